"""docker/ without a Docker engine: docker/build.sh (the Dockerfiles' build step) installs each variant's binaries
from this ctest build tree (FTD_BUILD_DIR), the installed binaries serve (ftd answers the images' health check, a
worker registers), docker/runtime-packages.sh covers every library they load, and the Dockerfiles have the
structure the images promise. Python standard library only; hermetic: port 0, temporary directories.

The build tree is reused as configured (build.sh checks, never reconfigures it), so of the two worker variants
the test installs the one that matches it: worker-cuda where the tree has CUDA, else worker-cpu; the other one is
checked to be refused. A fresh tree's configure step runs for coordinator and, where nvcc and NCCL exist, for
worker-cuda (configure only: building CUDA here would take minutes)."""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from cluster import wait_for  # noqa: E402  (the integration tests' one polling helper)

SOURCE_DIR = os.environ.get("FTD_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD_DIR = os.environ.get("FTD_BUILD_DIR", os.path.join(SOURCE_DIR, "build"))
DOCKER_DIR = os.path.join(SOURCE_DIR, "docker")
BUILD_SH = os.path.join(DOCKER_DIR, "build.sh")
RUNTIME_PACKAGES = os.path.join(DOCKER_DIR, "runtime-packages.sh")
HEALTHCHECK = os.path.join(DOCKER_DIR, "healthcheck.sh")
VARIANTS = ("coordinator", "worker-cpu", "worker-cuda")
# The binaries the build tree built, whose RUNPATH the installed copies of a reused tree lack (below).
BUILT = {"ftd": os.environ.get("FTD_BIN"), "ftctl": os.environ.get("FTCTL_BIN"),
         "ftd-worker": os.environ.get("FTD_WORKER_BIN")}


def run(args, env=None, timeout=170):
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                          timeout=timeout)


def cache_value(build_dir, name):
    with open(os.path.join(build_dir, "CMakeCache.txt")) as f:
        for line in f:
            match = re.match(r"%s:[A-Z]*=(.*)$" % re.escape(name), line.rstrip("\n"))
            if match:
                return match.group(1)
    return ""


def tree_has_cuda(build_dir):
    """As build.sh (and the top-level CMakeLists.txt): FTD_CUDA not OFF and a CUDA compiler found."""
    compiler = cache_value(build_dir, "CMAKE_CUDA_COMPILER")
    return (cache_value(build_dir, "FTD_CUDA").upper() != "OFF" and bool(compiler)
            and not compiler.endswith("NOTFOUND"))


def runpath(binary):
    out = run(["readelf", "-d", binary]).stdout
    match = re.search(r"\((?:RUNPATH|RPATH)\)\s+Library r(?:un)?path: \[([^\]]*)\]", out)
    return match.group(1).split(":") if match else []


def library_env(build_dir):
    """The environment the installed binaries of a reused tree run in: the built binaries' RUNPATH (OpenBLAS's
    openmp/ folder, the CUDA toolkit) outside the build tree as LD_LIBRARY_PATH, which `cmake --install` drops
    from a tree configured without CMAKE_INSTALL_RPATH_USE_LINK_PATH (a fresh build.sh tree keeps it)."""
    build_real = os.path.realpath(build_dir)
    dirs = []
    for binary in BUILT.values():
        if binary and os.path.exists(binary):
            for d in runpath(binary):
                if d and not os.path.realpath(d).startswith(build_real + os.sep) and d not in dirs:
                    dirs.append(d)
    env = dict(os.environ)
    if dirs:
        env["LD_LIBRARY_PATH"] = ":".join(dirs + [p for p in env.get("LD_LIBRARY_PATH", "").split(":") if p])
    return env


def read(path):
    with open(path, errors="replace") as f:
        return f.read()


def printed_address(log_path, prefix):
    """HOST:PORT from a `PREFIX HOST:PORT` line a binary printed, or None."""
    for line in read(log_path).splitlines():
        if line.startswith(prefix):
            return line[len(prefix):].strip()
    return None


def nvcc_path():
    found = shutil.which("nvcc")
    if found:
        return found
    return "/usr/local/cuda/bin/nvcc" if os.access("/usr/local/cuda/bin/nvcc", os.X_OK) else None


class InstallTest(unittest.TestCase):
    """build.sh on the ctest tree: the coordinator variant and the worker variant that matches the tree."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ftd-docker-test-")
        cls.cuda = tree_has_cuda(BUILD_DIR)
        cls.worker_variant = "worker-cuda" if cls.cuda else "worker-cpu"
        cls.other_worker_variant = "worker-cpu" if cls.cuda else "worker-cuda"
        cls.prefix = {}
        for variant in ("coordinator", cls.worker_variant):
            prefix = os.path.join(cls.tmp, variant)
            result = run([BUILD_SH, "--variant", variant, "--prefix", prefix, "--build-dir", BUILD_DIR,
                          "--jobs", "1"])
            if result.returncode != 0:
                raise AssertionError("build.sh --variant %s failed:\n%s" % (variant, result.stdout[-4000:]))
            cls.prefix[variant] = prefix
        cls.env = library_env(BUILD_DIR)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def installed(self, variant, name):
        return os.path.join(self.prefix[variant], "bin", name)

    def test_installs_exactly_the_variants_binaries_stripped(self):
        expected = {"coordinator": ["ftctl", "ftd"], self.worker_variant: ["ftd-worker"]}
        for variant, names in expected.items():
            self.assertEqual(sorted(os.listdir(os.path.join(self.prefix[variant], "bin"))), names, variant)
            for name in names:
                sections = run(["readelf", "-S", "-W", self.installed(variant, name)]).stdout
                self.assertNotIn(".symtab", sections, "%s is not stripped" % name)
                self.assertNotIn(".debug_", sections, "%s keeps debug info" % name)

    def test_the_other_worker_variant_is_refused_on_this_tree(self):
        result = run([BUILD_SH, "--variant", self.other_worker_variant, "--prefix", os.path.join(self.tmp, "no"),
                      "--build-dir", BUILD_DIR])
        self.assertEqual(result.returncode, 1, result.stdout)
        self.assertIn("needs CUDA", result.stdout)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "no", "bin")))

    def test_bad_arguments_exit_2(self):
        for args in (["--variant", "gpu", "--prefix", self.tmp], ["--variant", "coordinator"],
                     ["--variant", "coordinator", "--prefix", self.tmp, "--jobs", "x"], ["--bogus"]):
            result = run([BUILD_SH] + args)
            self.assertEqual(result.returncode, 2, "%s: %s" % (args, result.stdout))

    def test_coordinator_binaries_never_load_cuda(self):
        for name in ("ftd", "ftctl"):
            libraries = run(["ldd", self.installed("coordinator", name)], env=self.env).stdout
            self.assertNotRegex(libraries, r"libcuda|libcudart|libnccl|libcublas", name)

    def runtime_list(self, variant):
        result = run([RUNTIME_PACKAGES, variant])
        self.assertEqual(result.returncode, 0, result.stdout)
        return set(result.stdout.split())

    def derived(self, *binaries):
        result = run([RUNTIME_PACKAGES, "--derive"] + list(binaries), env=self.env)
        self.assertEqual(result.returncode, 0, "a library no package provides:\n" + result.stdout)
        return set(result.stdout.split())

    def test_runtime_packages_are_what_the_binaries_load(self):
        """Every library `ldd` resolves is provided by a listed package (dpkg -S; NVIDIA's by soname), and every
        listed package provides one: the lists are the derivation, not a guess."""
        coordinator = self.derived(self.installed("coordinator", "ftd"), self.installed("coordinator", "ftctl"))
        self.assertEqual(coordinator, self.runtime_list("coordinator"))
        worker = self.derived(self.installed(self.worker_variant, "ftd-worker"))
        cpu_list, cuda_list = self.runtime_list("worker-cpu"), self.runtime_list("worker-cuda")
        nvidia = cuda_list - cpu_list
        self.assertTrue(nvidia, "worker-cuda lists no CUDA runtime package")
        self.assertLessEqual(cpu_list, cuda_list)
        self.assertEqual(worker - nvidia, cpu_list)
        if self.cuda:
            self.assertEqual(worker, cuda_list)

    def test_installed_binaries_serve_and_a_worker_registers(self):
        """ftd from the coordinator prefix passes the images' health check; ftd-worker serve from the worker prefix
        registers with it and passes its own; ftctl from the coordinator prefix lists the worker."""
        work = tempfile.mkdtemp(dir=self.tmp)
        ftd_log, worker_log = os.path.join(work, "ftd.log"), os.path.join(work, "worker.log")
        processes = []
        try:
            with open(ftd_log, "w") as log:
                ftd = subprocess.Popen([self.installed("coordinator", "ftd"), "--data-dir", os.path.join(work, "data"),
                                        "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"],
                                       stdout=log, stderr=subprocess.STDOUT, env=self.env)
            processes.append(ftd)
            grpc_address = wait_for(lambda: printed_address(ftd_log, "ftd: serving gRPC on ") or ftd.poll(), 30,
                                    "ftd to serve")
            self.assertIsInstance(grpc_address, str, read(ftd_log))
            http_address = wait_for(lambda: printed_address(ftd_log, "ftd: serving HTTP on "), 10, "ftd's HTTP")
            health = run(["bash", HEALTHCHECK, http_address, "/healthz"])
            self.assertEqual(health.returncode, 0, health.stdout)
            self.assertEqual(run(["bash", HEALTHCHECK, http_address, "/no-such-page"]).returncode, 1)

            with open(worker_log, "w") as log:
                worker = subprocess.Popen([self.installed(self.worker_variant, "ftd-worker"), "serve",
                                           "--coordinator", grpc_address, "--work-dir", os.path.join(work, "worker"),
                                           "--http-listen", "127.0.0.1:0"],
                                          stdout=log, stderr=subprocess.STDOUT, env=self.env)
            processes.append(worker)

            def workers_live():
                self.assertIsNone(worker.poll(), read(worker_log))
                with urllib.request.urlopen("http://%s/metrics" % http_address, timeout=10) as response:
                    text = response.read().decode()
                match = re.search(r"^ftd_coordinator_workers_live (\S+)$", text, re.M)
                return match is not None and float(match.group(1)) == 1

            wait_for(workers_live, 30, "the worker to register")
            listing = run([self.installed("coordinator", "ftctl"), "workers", "--server", grpc_address],
                          env=self.env, timeout=30)
            self.assertEqual(listing.returncode, 0, listing.stdout)
            self.assertIn("workers/", listing.stdout)
            worker_http = wait_for(lambda: printed_address(worker_log, "ftd-worker: serving HTTP on "), 10,
                                   "the worker's HTTP")
            health = run(["bash", HEALTHCHECK, worker_http])
            self.assertEqual(health.returncode, 0, health.stdout)

            for process, log_path in ((worker, worker_log), (ftd, ftd_log)):  # Workers first, as in a shutdown.
                process.send_signal(signal.SIGTERM)
                self.assertEqual(process.wait(timeout=30), 0, read(log_path))
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()


class ConfigureTest(unittest.TestCase):
    """A fresh tree gets the variant's settings (configure only, in a temporary build dir)."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ftd-docker-configure-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def configure(self, variant):
        build_dir = os.path.join(self.tmp, "build")
        result = run([BUILD_SH, "--variant", variant, "--prefix", os.path.join(self.tmp, "prefix"),
                      "--build-dir", build_dir, "--configure-only"])
        self.assertEqual(result.returncode, 0, result.stdout)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "prefix", "bin")))
        return build_dir

    def test_coordinator_configures_without_cuda(self):
        build_dir = self.configure("coordinator")
        self.assertEqual(cache_value(build_dir, "FTD_SERVICE"), "ON")
        self.assertEqual(cache_value(build_dir, "FTD_CUDA"), "OFF")
        self.assertEqual(cache_value(build_dir, "CMAKE_INSTALL_RPATH_USE_LINK_PATH"), "ON")
        self.assertFalse(tree_has_cuda(build_dir))

    def test_worker_cuda_configures_with_cuda(self):
        nvcc = nvcc_path()
        if nvcc is None:
            self.skipTest("no nvcc (PATH or /usr/local/cuda/bin): worker-cuda's configure step needs the CUDA toolkit")
        cuda_root = os.path.dirname(os.path.dirname(os.path.realpath(nvcc)))
        if not any(os.path.exists(os.path.join(d, "nccl.h"))
                   for d in (os.path.join(cuda_root, "include"), "/usr/include", "/usr/local/include")):
            self.skipTest("nvcc but no nccl.h: worker-cuda (FTD_CUDA=ON) requires NCCL")
        build_dir = self.configure("worker-cuda")
        self.assertEqual(cache_value(build_dir, "FTD_CUDA"), "ON")
        self.assertTrue(tree_has_cuda(build_dir))


class DockerfileTest(unittest.TestCase):
    """Cheap structure checks (Debian 12 packages no Dockerfile linter; hadolint runs too where it is installed)."""

    def stages(self, variant):
        """[(from_line, [instruction lines])] with continuation lines joined and comments dropped."""
        text = read(os.path.join(DOCKER_DIR, "%s.Dockerfile" % variant))
        joined = re.sub(r"\\\n", " ", text)
        stages, preamble = [], []
        for line in joined.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.upper().startswith("FROM "):
                stages.append((line, []))
            elif stages:
                stages[-1][1].append(line)
            else:
                preamble.append(line)
        for line in preamble:
            self.assertRegex(line, r"^ARG ", "%s: only ARG may precede FROM" % variant)
        return stages

    def test_from_lines_are_pinned_debian_12(self):
        for variant in VARIANTS:
            stages = self.stages(variant)
            self.assertGreaterEqual(len(stages), 2, "%s is not multi-stage" % variant)
            for from_line, _ in stages:
                image = from_line.split()[1]
                self.assertRegex(image, r"^debian:12\.\d+(-slim)?$|@sha256:", "%s: %s" % (variant, from_line))
            self.assertRegex(stages[0][0], r"^FROM debian:12\.\d+ AS build$", variant)
            self.assertRegex(stages[-1][0], r"^FROM debian:12\.\d+-slim$", variant)

    def test_stages_use_the_scripts(self):
        for variant in VARIANTS:
            build, final = self.stages(variant)[0][1], self.stages(variant)[-1][1]
            self.assertTrue(any("docker/build.sh --variant %s " % variant in line for line in build), variant)
            self.assertTrue(any("build-packages.sh %s)" % variant in line for line in build), variant)
            self.assertTrue(any("runtime-packages.sh %s)" % variant in line for line in final), variant)
            self.assertTrue(any(line.startswith("COPY --from=build /opt/ftd/bin/ ") for line in final), variant)

    def test_final_stage_runs_as_ftd_with_a_health_check(self):
        for variant in VARIANTS:
            final = self.stages(variant)[-1][1]
            text = "\n".join(final)
            self.assertRegex(text, r"useradd --uid 10001 --gid 10001 .* ftd\b", variant)
            users = [line for line in final if line.startswith("USER ")]
            self.assertEqual(users, ["USER 10001:10001"], variant)
            # USER comes before the ENTRYPOINT and nothing after it runs as root.
            self.assertLess(final.index(users[0]), [i for i, l in enumerate(final) if l.startswith("ENTRYPOINT")][0])
            self.assertFalse([l for l in final[final.index(users[0]):] if l.startswith("RUN ")], variant)
            health = [line for line in final if line.startswith("HEALTHCHECK ")]
            self.assertEqual(len(health), 1, variant)
            http_port = "9090" if variant == "coordinator" else "9091"
            self.assertIn('CMD ["bash", "/usr/local/bin/ftd-healthcheck", "%s", "/healthz"]' % http_port, health[0])
            self.assertIn("COPY docker/healthcheck.sh /usr/local/bin/ftd-healthcheck", final)
            entrypoint = [line for line in final if line.startswith("ENTRYPOINT ")]
            self.assertEqual(len(entrypoint), 1, variant)
            self.assertIn('"--http-listen", "0.0.0.0:%s"' % http_port, entrypoint[0])
            expose = [line for line in final if line.startswith("EXPOSE ")]
            self.assertEqual(len(expose), 1, variant)
            self.assertIn(http_port, expose[0].split())
            if variant == "coordinator":
                self.assertIn('"--listen", "0.0.0.0:7070"', entrypoint[0])
                self.assertIn("7070", expose[0].split())
            self.assertTrue([l for l in final if l.startswith("VOLUME ")], variant)
            self.assertTrue([l for l in final if l.startswith("WORKDIR ")], variant)

    def test_no_add_of_urls(self):
        for variant in VARIANTS:
            for _, lines in self.stages(variant):
                for line in lines:
                    if line.startswith("ADD "):
                        self.assertNotRegex(line, r"https?://|git@", variant)

    def test_hadolint_where_installed(self):
        hadolint = shutil.which("hadolint")
        if hadolint is None:
            self.skipTest("hadolint is not installed (Debian 12 does not package it)")
        for variant in VARIANTS:
            result = run([hadolint, os.path.join(DOCKER_DIR, "%s.Dockerfile" % variant)])
            self.assertEqual(result.returncode, 0, result.stdout)

    def test_build_packages_are_install_deps_packages(self):
        """docker/build-packages.sh's Debian packages are a subset of scripts/install-deps.sh's one list."""
        text = read(os.path.join(SOURCE_DIR, "scripts", "install-deps.sh"))
        block = re.search(r"PACKAGES=\((.*?)\n\)", text, re.S).group(1)
        install_deps = set(re.sub(r"#[^\n]*", "", block).split())
        cpu = set(run([os.path.join(DOCKER_DIR, "build-packages.sh"), "worker-cpu"]).stdout.split())
        self.assertLessEqual(cpu, install_deps)
        self.assertEqual(set(run([os.path.join(DOCKER_DIR, "build-packages.sh"), "coordinator"]).stdout.split()), cpu)
        cuda = set(run([os.path.join(DOCKER_DIR, "build-packages.sh"), "worker-cuda"]).stdout.split())
        self.assertLess(cpu, cuda)

    def test_dockerignore_keeps_build_trees_and_caches_out(self):
        entries = [l.strip() for l in read(os.path.join(SOURCE_DIR, ".dockerignore")).splitlines()
                   if l.strip() and not l.startswith("#")]
        for entry in ("build", "build-*", ".ccache", ".deps", "demo-out"):
            self.assertIn(entry, entries)


if __name__ == "__main__":
    unittest.main()

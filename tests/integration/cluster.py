"""A real ftd cluster on loopback for the integration tests: the `ftd` daemon, `ftd-worker serve` processes and the
`ftctl` CLI, as separate processes talking gRPC. Binaries come from the environment ctest sets (FTD_BIN,
FTD_WORKER_BIN, FTCTL_BIN); the tiny model from the source tree's fixtures. Python standard library only."""

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

SOURCE_DIR = os.environ.get("FTD_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
FTD_BIN = os.environ.get("FTD_BIN", "ftd")
WORKER_BIN = os.environ.get("FTD_WORKER_BIN", "ftd-worker")
FTCTL_BIN = os.environ.get("FTCTL_BIN", "ftctl")
TINY_MODEL = os.path.join(SOURCE_DIR, "tests", "fixtures", "model_io", "tiny_llama")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_dataset(path, examples=24):
    """Half plain text, half prompt/completion: both record kinds of the trainer."""
    with open(path, "w") as f:
        for i in range(examples):
            if i % 2 == 0:
                f.write(json.dumps({"text": "Rank tests sentence number %d%s" % (i, "?" * (i % 4))}) + "\n")
            else:
                f.write(json.dumps({"prompt": "Q: %d times two?" % i, "completion": " A: %d" % (2 * i)}) + "\n")


def lora_spec(dataset, max_steps=20, save_steps=5, world_size=2, name="it"):
    return "\n".join([
        "name: %s" % name,
        "base_model: %s" % TINY_MODEL,
        "method: lora",
        "lora_r: 4",
        "lora_alpha: 8",
        "datasets:",
        "  - path: %s" % dataset,
        "sequence_len: 32",
        "micro_batch_size: 2",
        "max_steps: %d" % max_steps,
        "learning_rate: 1e-3",
        "lr_scheduler: constant",
        "seed: 11",
        "save_steps: %d" % save_steps,
        "save_total_limit: 3",
        "world_size: %d" % world_size,
        "max_restarts: 3",
        "device: cpu",
        "",
    ])


def step(job):
    """The job's progress.step (absent before the first report; int64 is a JSON string in proto3's mapping)."""
    return int(job.get("progress", {}).get("step", 0))


def wait_for(predicate, timeout, what, interval=0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(interval)


class Cluster:
    """Owns every process it starts; close() kills whatever is left. Logs go to files in the cluster's directory."""

    def __init__(self, lease_seconds=2, restart_backoff_seconds=1):
        self.dir = tempfile.mkdtemp(prefix="ftd-it-")
        self.lease_seconds = lease_seconds
        self.restart_backoff_seconds = restart_backoff_seconds
        self.grpc_port = free_port()
        self.http_port = free_port()
        self.ftd = None
        self.prometheus = None
        self.workers = {}
        self.ftd_starts = 0
        self.files = []

    @property
    def address(self):
        return "127.0.0.1:%d" % self.grpc_port

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def open_log(self, name, mode):
        f = open(self.path(name), mode)
        self.files.append(f)
        return f

    def read(self, name):
        with open(self.path(name)) as f:
            return f.read()

    def start_ftd(self, extra_args=()):
        self.ftd_starts += 1
        log = self.open_log("ftd.%d.log" % self.ftd_starts, "w")
        self.ftd = subprocess.Popen(
            [FTD_BIN, "--data-dir", self.path("ftd"), "--listen", self.address,
             "--http-listen", "127.0.0.1:%d" % self.http_port, "--lease-seconds", str(self.lease_seconds),
             "--restart-backoff-seconds", str(self.restart_backoff_seconds)] + list(extra_args),
            stdout=log, stderr=subprocess.STDOUT)
        log_name = "ftd.%d.log" % self.ftd_starts
        wait_for(lambda: "serving gRPC" in self.read(log_name) or self.ftd.poll() is not None, 30, "ftd to serve")
        if self.ftd.poll() is not None:
            raise AssertionError("ftd exited: " + self.read(log_name))

    def metric(self, name):
        """A label-free sample of ftd's /metrics, or None."""
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.http_port, timeout=10) as response:
            for line in response.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
        return None

    def wait_workers(self, count, timeout=30):
        wait_for(lambda: self.metric("ftd_coordinator_workers_live") == count, timeout, "%d live workers" % count)

    def kill_ftd(self):
        self.ftd.send_signal(signal.SIGKILL)
        self.ftd.wait()

    def start_worker(self, name, extra_args=()):
        log = self.open_log("%s.log" % name, "a")
        process = subprocess.Popen(
            [WORKER_BIN, "serve", "--coordinator", self.address, "--work-dir", self.path(name),
             "--memory-bytes", str(4 << 30), "--host", name, "--collective-timeout", "20",
             "--report-interval", "0.2"] + list(extra_args),
            stdout=log, stderr=subprocess.STDOUT)
        self.workers[name] = process
        return process

    def worker_http_port(self, name):
        """The port `ftd-worker serve --http-listen 127.0.0.1:0` printed."""
        def port():
            for line in self.read("%s.log" % name).splitlines():
                if line.startswith("ftd-worker: serving HTTP on "):
                    return int(line.rsplit(":", 1)[1])
            return None
        return wait_for(port, 30, "%s to serve HTTP" % name)

    def kill_worker(self, name):
        process = self.workers.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait()

    def ftctl(self, *args, check=True, timeout=120):
        env = dict(os.environ, FTD_SERVER=self.address)
        result = subprocess.run([FTCTL_BIN] + list(args), env=env, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError("ftctl %s exited %d: %s%s" % (" ".join(args), result.returncode, result.stdout,
                                                                result.stderr))
        return result

    def job(self, name):
        return json.loads(self.ftctl("get", name, "-o", "json").stdout)

    def submit(self, spec_text, filename="job.yaml"):
        path = self.path(filename)
        with open(path, "w") as f:
            f.write(spec_text)
        return self.ftctl("submit", path).stdout.strip()

    def start_prometheus(self, worker_ports, rule_files=()):
        """A real Prometheus (Debian package prometheus) scraping ftd and the workers' HTTP ports every second under
        deploy/prometheus's job names (ftd-coordinator, ftd-worker), with `rule_files` loaded; killed by close().
        Returns its port once it is ready."""
        port = free_port()
        workers = ", ".join("'127.0.0.1:%d'" % p for p in worker_ports)
        rules = "".join("  - '%s'\n" % os.path.abspath(r) for r in rule_files)
        with open(self.path("prometheus.yml"), "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
                    + ("rule_files:\n" + rules if rules else "")
                    + "scrape_configs:\n"
                    "  - job_name: ftd-coordinator\n    static_configs:\n      - targets: ['127.0.0.1:%d']\n"
                    "  - job_name: ftd-worker\n    static_configs:\n      - targets: [%s]\n" % (self.http_port, workers))
        log = self.open_log("prometheus.log", "w")
        self.prometheus = subprocess.Popen(
            ["prometheus", "--config.file=" + self.path("prometheus.yml"), "--storage.tsdb.path=" + self.path("tsdb"),
             "--web.listen-address=127.0.0.1:%d" % port, "--log.level=warn"],
            stdout=log, stderr=subprocess.STDOUT)

        def ready():
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/-/ready" % port, timeout=10):
                    return True
            except OSError:
                return self.prometheus.poll() is not None  # Exited: stop waiting, the check below says why.
        wait_for(ready, 30, "Prometheus to be ready")
        if self.prometheus.poll() is not None:
            raise AssertionError("prometheus exited: " + self.read("prometheus.log"))
        return port

    def prometheus_query(self, port, expression):
        """The result vector of an instant query through Prometheus' HTTP API."""
        url = "http://127.0.0.1:%d/api/v1/query?%s" % (port, urllib.parse.urlencode({"query": expression}))
        with urllib.request.urlopen(url, timeout=10) as response:
            answer = json.loads(response.read().decode())
        if answer["status"] != "success":
            raise AssertionError("query %s: %s" % (expression, answer))
        return answer["data"]["result"]

    def logs(self):
        """Every log file of the cluster, for a failure message."""
        out = []
        for name in sorted(os.listdir(self.dir)):
            if name.endswith(".log"):
                with open(self.path(name)) as f:
                    out.append("==== %s\n%s" % (name, f.read()[-6000:]))
        return "\n".join(out)

    def close(self):
        for process in list(self.workers.values()) + [p for p in (self.ftd, self.prometheus) if p]:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait()
        for f in self.files:
            f.close()


def standalone_run(out_dir, spec_text, world_size):
    """The same spec trained by `ftd-worker train` processes meeting through a file rendezvous: the reference."""
    os.makedirs(out_dir, exist_ok=True)
    spec = os.path.join(out_dir, "job.yaml")
    with open(spec, "w") as f:
        f.write(spec_text)
    rendezvous = os.path.join(out_dir, "rendezvous")
    os.makedirs(rendezvous)
    processes = []
    for rank in range(world_size):
        processes.append(subprocess.Popen(
            [WORKER_BIN, "train", spec, "--output", os.path.join(out_dir, "rank%d" % rank), "--rank", str(rank),
             "--world-size", str(world_size), "--rendezvous", "file:" + rendezvous,
             "--checkpoints", "file:" + os.path.join(out_dir, "checkpoints%d" % rank)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    for process in processes:
        output, _ = process.communicate(timeout=300)
        if process.returncode != 0:
            raise AssertionError("standalone rank exited %d: %s" % (process.returncode, output))
    return os.path.join(out_dir, "rank0")


def load_json(path):
    with open(path) as f:
        return json.load(f)


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


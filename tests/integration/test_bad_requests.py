"""Done-when 4 of the coordinator issue: distinct bad requests against a real ftd (tokens, allowed roots), each
answered with the right gRPC code and a message naming the cause, while the daemon keeps serving: after every one
a health check and a good GetJob still succeed. Raw gRPC through the generated Python stubs (build/python), so
requests ftctl would never send (oversized, malformed headers, wrong roles) can be made. "Still serving" is checked
through the daemon's HTTP /healthz and a good GetJob."""

import os
import shutil
import unittest

import grpc

import cluster

from ftd.v1 import artifact_pb2
from ftd.v1 import job_service_pb2
from ftd.v1 import job_service_pb2_grpc
from ftd.v1 import job_spec_pb2
from ftd.v1 import worker_service_pb2
from ftd.v1 import worker_service_pb2_grpc

TIMEOUT = 20
TOKENS = {
    "alice": "alice-token-0123456789",
    "bob": "bob-token-0123456789abc",
    "admin": "admin-token-0123456789",
    "worker": "worker-token-0123456789",
}

Code = grpc.StatusCode


def spec(base_model, dataset, **fields):
    values = dict(base_model=base_model, datasets=[job_spec_pb2.Dataset(path=dataset)], max_steps=2,
                  sequence_len=32, micro_batch_size=2, world_size=1, device=job_spec_pb2.DEVICE_CPU)
    values.update(fields)
    return job_spec_pb2.JobSpec(**values)


class BadRequestsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        c = cls.cluster = cluster.Cluster(lease_seconds=30)
        roots = [c.path("models"), c.path("data")]
        os.makedirs(roots[1])
        shutil.copytree(cluster.TINY_MODEL, c.path("models", "tiny"))
        cls.model = c.path("models", "tiny")
        cls.dataset = c.path("data", "train.jsonl")
        cluster.write_dataset(cls.dataset)
        os.symlink("/etc", c.path("data", "escape"))
        token_file = c.path("tokens")
        with open(token_file, "w") as f:
            f.write("# token user [role]\n")
            f.write("%s alice\n%s bob\n%s root admin\n%s worker-1 worker\n" % (
                TOKENS["alice"], TOKENS["bob"], TOKENS["admin"], TOKENS["worker"]))
        os.chmod(token_file, 0o600)
        c.start_ftd(["--token-file", token_file, "--allowed-root", roots[0], "--allowed-root", roots[1]])
        cls.channel = grpc.insecure_channel(c.address)
        cls.jobs = job_service_pb2_grpc.JobServiceStub(cls.channel)
        cls.workers = worker_service_pb2_grpc.WorkerServiceStub(cls.channel)
        # One CPU worker registered by hand (never heartbeats within the 30 s lease the test needs).
        cls.worker = cls.workers.RegisterWorker(cls.registration(), timeout=TIMEOUT,
                                                metadata=cls.auth("worker")).worker
        cls.alice_job = cls.jobs.SubmitJob(job_service_pb2.SubmitJobRequest(spec=spec(cls.model, cls.dataset)),
                                           timeout=TIMEOUT, metadata=cls.auth("alice"))
        cls.bob_job = cls.jobs.SubmitJob(job_service_pb2.SubmitJobRequest(spec=spec(cls.model, cls.dataset)),
                                         timeout=TIMEOUT, metadata=cls.auth("bob"))

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.cluster.close()

    @staticmethod
    def auth(who):
        return (("authorization", "Bearer " + TOKENS[who]),)

    @staticmethod
    def registration(instance="/work/w1", version="0.1.0"):
        return worker_service_pb2.RegisterWorkerRequest(
            host="host-a", instance=instance, version=version,
            cpu=worker_service_pb2.CpuResources(cores=2, memory_bytes=8 << 30))

    def assertRefused(self, call, code, *words):
        """`call` raises an RpcError with `code` and a message holding every word; then the daemon still serves."""
        with self.assertRaises(grpc.RpcError) as raised:
            call()
        error = raised.exception
        self.assertEqual(error.code(), code, error.details())
        for word in words:
            self.assertIn(word, error.details())
        self.assertEqual(self.cluster.ftd.poll(), None, "ftd exited")
        job = self.jobs.GetJob(job_service_pb2.GetJobRequest(name=self.alice_job.name), timeout=TIMEOUT,
                               metadata=self.auth("alice"))
        self.assertEqual(job.name, self.alice_job.name)
        BadRequestsTest.count += 1

    count = 0  # Refusals checked, over every test.

    def submit(self, job_spec, who="alice", **fields):
        return lambda: self.jobs.SubmitJob(job_service_pb2.SubmitJobRequest(spec=job_spec, **fields),
                                           timeout=TIMEOUT, metadata=self.auth(who))

    def test_bad_specs(self):
        self.assertRefused(self.submit(None), Code.INVALID_ARGUMENT, "spec: required")
        self.assertRefused(self.submit(spec(self.model, self.dataset, lora_r=-1)), Code.INVALID_ARGUMENT,
                           "spec.lora_r")
        self.assertRefused(self.submit(spec("", self.dataset)), Code.INVALID_ARGUMENT, "spec.base_model")
        self.assertRefused(self.submit(spec(self.model, self.dataset, datasets=[])), Code.INVALID_ARGUMENT,
                           "spec.datasets")
        self.assertRefused(self.submit(spec(self.model, self.dataset, learning_rate=float("nan"))),
                           Code.INVALID_ARGUMENT, "spec.learning_rate")
        self.assertRefused(self.submit(spec(self.model, self.dataset, world_size=4)), Code.FAILED_PRECONDITION,
                           "could hold this job", "GiB")
        self.assertRefused(self.submit(spec(self.model, self.dataset), request_id="x" * 200),
                           Code.INVALID_ARGUMENT, "request_id")
        ok = self.submit(spec(self.model, self.dataset), request_id="once")()
        self.assertTrue(ok.name)
        self.assertRefused(self.submit(spec(self.model, self.dataset, max_steps=3), request_id="once"),
                           Code.ALREADY_EXISTS, "request_id", "once")

    def test_paths_outside_the_roots_and_missing_files(self):
        self.assertRefused(self.submit(spec("/etc", self.dataset)), Code.PERMISSION_DENIED, "spec.base_model",
                           "outside the allowed roots")
        self.assertRefused(self.submit(spec(self.model, "/etc/passwd")), Code.PERMISSION_DENIED,
                           "spec.datasets[0].path", "/etc/passwd")
        self.assertRefused(self.submit(spec(self.model, self.cluster.path("data", "..", "tokens"))),
                           Code.INVALID_ARGUMENT, "..")
        self.assertRefused(self.submit(spec(self.model, self.cluster.path("data", "escape", "passwd"))),
                           Code.PERMISSION_DENIED, "/etc/passwd")
        self.assertRefused(self.submit(spec("models/tiny", self.dataset)), Code.INVALID_ARGUMENT, "absolute")
        self.assertRefused(self.submit(spec(self.cluster.path("models", "missing"), self.dataset)),
                           Code.INVALID_ARGUMENT, "spec.base_model", "models/missing", "No such file")

    def test_unknown_and_other_users_ids(self):
        get = lambda name, who="alice": lambda: self.jobs.GetJob(  # noqa: E731
            job_service_pb2.GetJobRequest(name=name), timeout=TIMEOUT, metadata=self.auth(who))
        self.assertRefused(get("jobs/ft-999999"), Code.NOT_FOUND, "jobs/ft-999999")
        self.assertRefused(get("ft 1"), Code.INVALID_ARGUMENT, "name")
        self.assertRefused(get(self.bob_job.name), Code.NOT_FOUND, self.bob_job.name)
        self.assertRefused(lambda: self.jobs.CancelJob(job_service_pb2.CancelJobRequest(name="jobs/ft-999998"),
                                                       timeout=TIMEOUT, metadata=self.auth("alice")),
                           Code.NOT_FOUND, "jobs/ft-999998")
        self.assertRefused(lambda: self.jobs.CancelJob(job_service_pb2.CancelJobRequest(name=self.bob_job.name),
                                                       timeout=TIMEOUT, metadata=self.auth("alice")),
                           Code.NOT_FOUND, self.bob_job.name)
        listed = self.jobs.ListJobs(job_service_pb2.ListJobsRequest(), timeout=TIMEOUT, metadata=self.auth("alice"))
        self.assertNotIn(self.bob_job.name, [job.name for job in listed.jobs])
        everyone = self.jobs.ListJobs(job_service_pb2.ListJobsRequest(), timeout=TIMEOUT, metadata=self.auth("admin"))
        self.assertIn(self.bob_job.name, [job.name for job in everyone.jobs])
        self.assertRefused(lambda: self.jobs.ListJobs(job_service_pb2.ListJobsRequest(filter="colour=red"),
                                                      timeout=TIMEOUT, metadata=self.auth("alice")),
                           Code.INVALID_ARGUMENT, "filter")
        self.assertRefused(lambda: self.jobs.ListJobs(job_service_pb2.ListJobsRequest(page_token="garbage"),
                                                      timeout=TIMEOUT, metadata=self.auth("alice")),
                           Code.INVALID_ARGUMENT, "page_token")
        self.assertRefused(lambda: self.jobs.ListCheckpoints(
            job_service_pb2.ListCheckpointsRequest(parent="jobs/ft-999997"), timeout=TIMEOUT,
            metadata=self.auth("alice")), Code.NOT_FOUND, "jobs/ft-999997")
        self.assertRefused(lambda: list(self.jobs.WatchJob(
            job_service_pb2.WatchJobRequest(name=self.alice_job.name, after_sequence=-1), timeout=TIMEOUT,
            metadata=self.auth("alice"))), Code.INVALID_ARGUMENT, "after_sequence")
        self.assertRefused(lambda: list(self.jobs.DownloadArtifact(
            job_service_pb2.DownloadArtifactRequest(source=self.alice_job.name), timeout=TIMEOUT,
            metadata=self.auth("alice"))), Code.INVALID_ARGUMENT, "kind")
        self.assertRefused(lambda: list(self.jobs.DownloadArtifact(
            job_service_pb2.DownloadArtifactRequest(source=self.alice_job.name,
                                                    kind=artifact_pb2.ARTIFACT_KIND_ADAPTER),
            timeout=TIMEOUT, metadata=self.auth("alice"))), Code.FAILED_PRECONDITION, "final result")
        cancelled = self.submit(spec(self.model, self.dataset))()
        self.jobs.CancelJob(job_service_pb2.CancelJobRequest(name=cancelled.name), timeout=TIMEOUT,
                            metadata=self.auth("alice"))
        self.assertRefused(lambda: self.jobs.CancelJob(job_service_pb2.CancelJobRequest(name=cancelled.name),
                                                       timeout=TIMEOUT, metadata=self.auth("alice")),
                           Code.FAILED_PRECONDITION, "CANCELLED")

    def test_tokens_and_roles(self):
        request = job_service_pb2.GetJobRequest(name=self.alice_job.name)
        self.assertRefused(lambda: self.jobs.GetJob(request, timeout=TIMEOUT), Code.UNAUTHENTICATED, "missing")
        self.assertRefused(lambda: self.jobs.GetJob(request, timeout=TIMEOUT,
                                                    metadata=(("authorization", "Bearer not-a-known-token-x"),)),
                           Code.UNAUTHENTICATED, "unknown")
        self.assertRefused(lambda: self.jobs.GetJob(request, timeout=TIMEOUT,
                                                    metadata=(("authorization", "Basic YWxpY2U6c2VjcmV0"),)),
                           Code.UNAUTHENTICATED, "Bearer")
        self.assertRefused(lambda: self.workers.RegisterWorker(self.registration("/work/x"), timeout=TIMEOUT,
                                                               metadata=self.auth("alice")),
                           Code.PERMISSION_DENIED, "WorkerService")
        self.assertRefused(self.submit(spec(self.model, self.dataset), who="worker"), Code.PERMISSION_DENIED,
                           "JobService")
        backup = job_service_pb2.BackupStateRequest(directory=self.cluster.path("alice-backup"))
        self.assertRefused(lambda: self.jobs.BackupState(backup, timeout=TIMEOUT, metadata=self.auth("alice")),
                           Code.PERMISSION_DENIED, "admin")
        self.assertFalse(os.path.exists(backup.directory))

    def test_bad_worker_requests(self):
        self.assertRefused(lambda: self.workers.RegisterWorker(self.registration(), timeout=TIMEOUT,
                                                               metadata=self.auth("worker")),
                           Code.ALREADY_EXISTS, "/work/w1", self.worker)
        self.assertRefused(lambda: self.workers.RegisterWorker(self.registration("/work/w9", version="9.0.0"),
                                                               timeout=TIMEOUT, metadata=self.auth("worker")),
                           Code.FAILED_PRECONDITION, "9.0.0")
        self.assertRefused(lambda: self.workers.Heartbeat(worker_service_pb2.HeartbeatRequest(worker="workers/w-77"),
                                                          timeout=TIMEOUT, metadata=self.auth("worker")),
                           Code.NOT_FOUND, "workers/w-77")
        self.assertRefused(lambda: self.workers.RendezvousSet(
            worker_service_pb2.RendezvousSetRequest(job=self.alice_job.name, attempt=0, key="k" * 600, value=b"v"),
            timeout=TIMEOUT, metadata=self.auth("worker")), Code.INVALID_ARGUMENT, "key", "512")
        self.assertRefused(lambda: self.workers.ReportMetrics(
            worker_service_pb2.ReportMetricsRequest(worker=self.worker, job=self.alice_job.name, attempt=5, rank=0,
                                                    batch_sequence=1),
            timeout=TIMEOUT, metadata=self.auth("worker")), Code.FAILED_PRECONDITION, "no longer current")

    def test_oversized_message(self):
        self.assertRefused(self.submit(spec(self.model, self.dataset, name="n" * (9 << 20))),
                           Code.RESOURCE_EXHAUSTED, "")

    def test_zz_count_and_still_healthy(self):
        """Runs last (unittest sorts by name): every case above was distinct, and /healthz still answers."""
        import urllib.request
        with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % self.cluster.http_port, timeout=10) as r:
            self.assertEqual(r.status, 200)
        self.assertGreaterEqual(BadRequestsTest.count, 30)


if __name__ == "__main__":
    unittest.main()

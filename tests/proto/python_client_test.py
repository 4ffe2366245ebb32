#!/usr/bin/python3
"""Python client round trips against the C++ ftd_test_job_server: the ftd.v1 contract works across languages.

Run by ctest with Debian's /usr/bin/python3 (it has python3-grpcio), PYTHONPATH at the generated stubs and
--server PATH (or FTD_TEST_JOB_SERVER) naming the server binary. Each test gets a fresh server on port 0.
"""

import argparse
import os
import signal
import subprocess
import sys
import unittest

import grpc

from ftd.v1 import job_pb2
from ftd.v1 import job_service_pb2
from ftd.v1 import job_service_pb2_grpc
from ftd.v1 import job_spec_pb2

SERVER_PATH = os.environ.get("FTD_TEST_JOB_SERVER", "")
RPC_TIMEOUT_S = 20  # A deadline per call turns a hung server into a failure, not a ctest timeout.


def full_job_spec():
    """A JobSpec with every field set to a non-default value (unset_fields() proves it)."""
    spec = job_spec_pb2.JobSpec(
        name="python-roundtrip-élan-🦙",
        base_model="/models/Qwen2.5-0.5B",
        method=job_spec_pb2.METHOD_QLORA,
        lora_r=32,
        lora_alpha=64.5,
        lora_dropout=0.1,
        lora_target_modules=["all-linear"],
        use_rslora=True,
        bnb_4bit_use_double_quant=True,
        datasets=[
            job_spec_pb2.Dataset(path="/data/text.jsonl", type=job_spec_pb2.DATASET_TYPE_TEXT),
            job_spec_pb2.Dataset(path="/data/auto.jsonl", type=job_spec_pb2.DATASET_TYPE_AUTO),
        ],
        val_set_size=0.05,
        rehearsal=job_spec_pb2.Rehearsal(path="/data/general.txt", ratio=0.25),
        sequence_len=1024,
        sample_packing=True,
        chat_template=job_spec_pb2.CHAT_TEMPLATE_LLAMA3,
        max_bad_line_fraction=0.125,
        micro_batch_size=2,
        gradient_accumulation_steps=16,
        num_epochs=3.0,
        max_steps=500,
        learning_rate=1.0 / 30000.0,  # 17 significant digits on the wire.
        lr_scheduler=job_spec_pb2.LR_SCHEDULER_CONSTANT,
        warmup_steps=10,
        weight_decay=0.1,
        max_grad_norm=0.3,
        gradient_checkpointing=True,
        seed=2**62 + 1,  # Needs all 64 bits: a lossy transport would round it.
        eval_steps=20,
        save_steps=40,
        save_total_limit=4,
        early_stopping=job_spec_pb2.EarlyStopping(
            general_eval_dataset="/data/heldout.txt", general_ppl_max_rise=0.05, patience=1),
        benchmarks=[
            job_spec_pb2.Benchmark(suite=job_spec_pb2.BENCHMARK_SUITE_HELLASWAG, path="/bench/hellaswag.jsonl",
                                   num_fewshot=10, limit=100, context_lengths=[1024]),
            job_spec_pb2.Benchmark(suite=job_spec_pb2.BENCHMARK_SUITE_PERPLEXITY, path="/bench/wiki.txt",
                                   num_fewshot=2, limit=7, context_lengths=[512, 1024]),
        ],
        world_size=2,
        device=job_spec_pb2.DEVICE_CUDA,
        max_restarts=1,
        priority=42,
    )
    return spec


def unset_fields(message, prefix=""):
    """Dotted paths of fields that are unset or hold their default, recursing into sub-messages."""
    unset = []
    for field in message.DESCRIPTOR.fields:
        path = prefix + field.name
        value = getattr(message, field.name)
        if field.label == field.LABEL_REPEATED:
            if len(value) == 0:
                unset.append(path)
            if field.type == field.TYPE_MESSAGE:
                for i, element in enumerate(value):
                    unset.extend(unset_fields(element, f"{path}[{i}]."))
        elif field.type == field.TYPE_MESSAGE:
            if not message.HasField(field.name):
                unset.append(path)
            else:
                unset.extend(unset_fields(value, path + "."))
        elif not value:  # 0, 0.0, "", False, enum zero.
            unset.append(path)
    return unset


def named_spec(name):
    return job_spec_pb2.JobSpec(name=name, base_model="/models/tiny",
                                datasets=[job_spec_pb2.Dataset(path="/data/train.jsonl")])


class JobServiceClientTest(unittest.TestCase):

    def setUp(self):
        self.assertTrue(SERVER_PATH, "pass --server PATH or set FTD_TEST_JOB_SERVER")
        self.server = subprocess.Popen([SERVER_PATH], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        first_line = self.server.stdout.readline()
        self.assertRegex(first_line, r"^\d+\n$", "the server's first stdout line must be its port")
        self.channel = grpc.insecure_channel(f"127.0.0.1:{int(first_line)}")
        grpc.channel_ready_future(self.channel).result(timeout=RPC_TIMEOUT_S)
        self.stub = job_service_pb2_grpc.JobServiceStub(self.channel)

    def tearDown(self):
        self.channel.close()
        if self.server.poll() is None:
            self.server.stdin.close()  # EOF on stdin is the server's stop signal.
        self.assertEqual(self.server.wait(timeout=RPC_TIMEOUT_S), 0)
        self.server.stdout.close()
        if not self.server.stdin.closed:
            self.server.stdin.close()

    def submit(self, spec, request_id=""):
        return self.stub.SubmitJob(job_service_pb2.SubmitJobRequest(spec=spec, request_id=request_id),
                                   timeout=RPC_TIMEOUT_S)

    def list_all(self, page_size, filter_=""):
        """Follows next_page_token to the end; bounded so a cursor that never advances fails, not hangs."""
        names, page_sizes, token = [], [], ""
        for _ in range(50):
            page = self.stub.ListJobs(
                job_service_pb2.ListJobsRequest(page_size=page_size, page_token=token, filter=filter_),
                timeout=RPC_TIMEOUT_S)
            names.extend(job.spec.name for job in page.jobs)
            page_sizes.append(len(page.jobs))
            if not page.next_page_token:
                return names, page_sizes
            self.assertNotEqual(page.next_page_token, token, "next_page_token did not advance")
            token = page.next_page_token
        self.fail("paging did not end within 50 pages")

    def assertRpcError(self, code, call, *args, **kwargs):
        with self.assertRaises(grpc.RpcError) as caught:
            call(*args, timeout=RPC_TIMEOUT_S, **kwargs)
        self.assertEqual(caught.exception.code(), code, caught.exception.details())
        return caught.exception

    def test_full_spec_fixture_sets_every_field(self):
        self.assertEqual(unset_fields(full_job_spec()), [])
        spec = full_job_spec()
        spec.ClearField("seed")
        spec.benchmarks[0].ClearField("context_lengths")
        self.assertEqual(unset_fields(spec), ["seed", "benchmarks[0].context_lengths"])

    def test_submit_then_get_returns_the_spec_byte_for_byte(self):
        spec = full_job_spec()
        submitted = self.submit(spec)
        self.assertTrue(submitted.name.startswith("jobs/"), submitted.name)
        self.assertEqual(submitted.state, job_pb2.JOB_STATE_QUEUED)
        self.assertTrue(submitted.HasField("create_time"))
        got = self.stub.GetJob(job_service_pb2.GetJobRequest(name=submitted.name), timeout=RPC_TIMEOUT_S)
        self.assertEqual(got.spec, spec)
        self.assertEqual(got.spec.SerializeToString(deterministic=True), spec.SerializeToString(deterministic=True))
        self.assertEqual(got.spec.seed, 2**62 + 1)
        self.assertEqual(got.spec.name, "python-roundtrip-élan-🦙")
        self.assertEqual(got, submitted)

    def test_list_pages_seven_jobs_in_threes(self):
        for i in range(7):
            self.submit(named_spec(f"job-{i}"))
        names, page_sizes = self.list_all(page_size=3)
        self.assertEqual(names, [f"job-{i}" for i in reversed(range(7))])
        self.assertEqual(page_sizes, [3, 3, 1])
        self.assertRpcError(grpc.StatusCode.INVALID_ARGUMENT, self.stub.ListJobs,
                            job_service_pb2.ListJobsRequest(page_size=3, page_token="bogus"))

    def test_filter_by_state(self):
        jobs = [self.submit(named_spec(f"job-{i}")) for i in range(4)]
        self.stub.CancelJob(job_service_pb2.CancelJobRequest(name=jobs[2].name), timeout=RPC_TIMEOUT_S)
        self.assertEqual(self.list_all(page_size=10, filter_="state=CANCELLED")[0], ["job-2"])
        self.assertEqual(self.list_all(page_size=1, filter_="state=QUEUED")[0], ["job-3", "job-1", "job-0"])
        self.assertRpcError(grpc.StatusCode.INVALID_ARGUMENT, self.stub.ListJobs,
                            job_service_pb2.ListJobsRequest(filter="state=NAPPING"))

    def test_cancel_while_watching(self):
        job = self.submit(full_job_spec())
        stream = self.stub.WatchJob(job_service_pb2.WatchJobRequest(name=job.name), timeout=RPC_TIMEOUT_S)
        first = next(stream)  # The stream is open before the cancel: nothing to wait for.
        self.assertEqual(first.sequence, 1)
        self.assertEqual(first.state_change.to_state, job_pb2.JOB_STATE_QUEUED)
        cancelled = self.stub.CancelJob(job_service_pb2.CancelJobRequest(name=job.name, reason="from python"),
                                        timeout=RPC_TIMEOUT_S)
        self.assertEqual(cancelled.state, job_pb2.JOB_STATE_CANCELLED)
        second = next(stream)
        self.assertEqual(second.sequence, 2)
        self.assertEqual(second.WhichOneof("event"), "state_change")
        self.assertEqual(second.state_change.from_state, job_pb2.JOB_STATE_QUEUED)
        self.assertEqual(second.state_change.to_state, job_pb2.JOB_STATE_CANCELLED)
        self.assertEqual(second.state_change.message, "from python")
        with self.assertRaises(StopIteration):
            next(stream)
        self.assertEqual(stream.code(), grpc.StatusCode.OK)

        resumed = list(self.stub.WatchJob(job_service_pb2.WatchJobRequest(name=job.name, after_sequence=1),
                                          timeout=RPC_TIMEOUT_S))
        self.assertEqual([event.sequence for event in resumed], [2])
        self.assertRpcError(grpc.StatusCode.FAILED_PRECONDITION, self.stub.CancelJob,
                            job_service_pb2.CancelJobRequest(name=job.name))

    def test_defaults_resolved_and_bad_spec_rejected_with_its_key(self):
        job = self.submit(named_spec("defaults"))
        self.assertFalse(job.spec.HasField("lora_r"))  # As submitted.
        self.assertEqual(job.resolved_spec.lora_r, 8)  # PEFT's default, applied by the server.
        self.assertEqual(list(job.resolved_spec.lora_target_modules), ["q_proj", "v_proj"])
        bad = named_spec("bad")
        bad.lora_dropout = 1.5
        error = self.assertRpcError(grpc.StatusCode.INVALID_ARGUMENT, self.stub.SubmitJob,
                                    job_service_pb2.SubmitJobRequest(spec=bad))
        self.assertEqual(error.details(), "spec.lora_dropout: must be in [0, 1), got 1.5")

    def test_unknown_job_is_not_found(self):
        error = self.assertRpcError(grpc.StatusCode.NOT_FOUND, self.stub.GetJob,
                                    job_service_pb2.GetJobRequest(name="jobs/ft-424242"))
        self.assertIn("jobs/ft-424242", error.details())
        self.assertRpcError(grpc.StatusCode.INVALID_ARGUMENT, self.stub.GetJob,
                            job_service_pb2.GetJobRequest(name="ft-424242"))

    def test_resubmit_with_request_id_is_idempotent(self):
        first = self.submit(full_job_spec(), request_id="0d9f5c1e-python")
        again = self.submit(full_job_spec(), request_id="0d9f5c1e-python")
        self.assertEqual(again.name, first.name)
        self.assertEqual(len(self.list_all(page_size=10)[0]), 1)
        self.assertRpcError(grpc.StatusCode.ALREADY_EXISTS, self.stub.SubmitJob,
                            job_service_pb2.SubmitJobRequest(spec=named_spec("x"), request_id="0d9f5c1e-python"))

    def test_unimplemented_rpc(self):
        self.assertRpcError(grpc.StatusCode.UNIMPLEMENTED, self.stub.GetTransferReport,
                            job_service_pb2.GetTransferReportRequest(name="jobs/ft-000001/transferReport"))

    def test_sigterm_stops_the_server_cleanly(self):
        self.submit(named_spec("before-sigterm"))
        self.server.send_signal(signal.SIGTERM)
        self.assertEqual(self.server.wait(timeout=RPC_TIMEOUT_S), 0)


def main():
    global SERVER_PATH
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--server", default=SERVER_PATH, help="path of the ftd_test_job_server binary")
    args, unittest_args = parser.parse_known_args()
    SERVER_PATH = args.server
    unittest.main(argv=[sys.argv[0]] + unittest_args, verbosity=2)


if __name__ == "__main__":
    main()

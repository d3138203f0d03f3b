"""Lambda's SQS event source mapping, as the benchmarks need it: containers are worker processes
(benchmarks.worker), and one poller thread per container receives a message (BatchSize 1, as in
template.yaml), invokes the container with it, and deletes it unless the function reported it as a batch
item failure. Failed messages are made visible again at once (not after the 5400 s visibility timeout) and
go to the dead-letter count after the template's maxReceiveCount."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from benchmarks.common import MAX_RECEIVES, ROOT, World, log
from devstack.lambda_runner import sqs_record

# What lambda_runner.invoke sets besides the caller's env (it sets them again; same values).
_LAMBDA_VARS = (
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_EXECUTION_ENV",
    "LAMBDA_TASK_ROOT",
)


def container_env(function_id: str, env: dict[str, str], patches: list[str] | None = None) -> dict[str, str]:
    """The whole environment of a container process: a clean base, the template's literal variables,
    Lambda's own, and `env` (the stack's endpoints, fake credentials, certrotate settings)."""
    from devstack import lambda_runner

    spec = lambda_runner.template().function(function_id)
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")}
    result = {
        **base,
        **spec.environment,
        "AWS_LAMBDA_FUNCTION_NAME": spec.logical_id,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.logical_id}",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime or 'python3.11'}",
        "LAMBDA_TASK_ROOT": str(spec.code_uri),
        **env,
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
    }
    # Lambda hands the function its role's credentials: with the local stack running in this process, the
    # template's role, enforced on every call (the worker process has no stack to ask, so it is asked here).
    from devstack.iam_enforcement import enforcement

    deployed = enforcement.function_credentials(spec.logical_id, result)
    result.update({k: v for k, v in deployed.items() if not k.startswith("AWS_") and k not in env})
    result.update({k: v for k, v in deployed.items() if k.startswith("AWS_")})
    if patches:
        result["BENCH_PATCHES"] = ",".join(patches)
    return result


class Container:
    """A worker process: one warm Lambda container of `function_id` once it has served its first request."""

    def __init__(
        self,
        function_id: str,
        env: dict[str, str],
        log_path: Path,
        patches: list[str] | None = None,
        profile_invocation: int = -1,
    ) -> None:
        read_fd, write_fd = os.pipe()
        process_env = container_env(function_id, env, patches)
        process_env["BENCH_PROFILE_INVOCATION"] = str(profile_invocation)
        self.log_path = log_path
        self._log: IO[bytes] = open(log_path, "wb")  # noqa: SIM115 - closed in close()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.worker", str(write_fd), function_id],
            cwd=ROOT,
            env=process_env,
            stdin=subprocess.PIPE,
            stdout=self._log,
            stderr=self._log,
            pass_fds=(write_fd,),
            text=True,
        )
        os.close(write_fd)
        self._replies = os.fdopen(read_fd, "r")
        self._next_id = 0

    def call(self, event: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self._next_id += 1
        self.process.stdin.write(json.dumps({"id": self._next_id, "event": event}) + "\n")
        self.process.stdin.flush()
        line = self._replies.readline()
        if not line:
            raise RuntimeError(f"container {self.process.pid} died; see {self.log_path}")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def __enter__(self) -> Container:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            if self.process.poll() is None and self.process.stdin is not None:
                self.process.stdin.write(json.dumps({"stop": True}) + "\n")
                self.process.stdin.close()
            self.process.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        finally:
            self._replies.close()
            self._log.close()


@dataclass
class Invocation:
    container: int
    cold: bool
    reply: dict[str, Any]
    receive_count: int

    @property
    def seconds(self) -> float:
        return float(self.reply.get("seconds", 0.0))

    @property
    def import_s(self) -> float:
        return float(self.reply.get("import_s", 0.0))

    @property
    def failed(self) -> bool:
        if "error" in self.reply:
            return True
        result = self.reply.get("result") or {}
        return bool(result.get("batchItemFailures"))


@dataclass
class Drain:
    wall: float
    invocations: list[Invocation] = field(default_factory=list)
    dead_letters: int = 0
    log_dir: str = ""

    @property
    def failures(self) -> list[Invocation]:
        return [i for i in self.invocations if i.failed]

    @property
    def cold(self) -> list[Invocation]:
        return [i for i in self.invocations if i.cold]

    @property
    def warm(self) -> list[Invocation]:
        return [i for i in self.invocations if not i.cold]


class EventSourceMapping:
    """`with EventSourceMapping(world, concurrency=2) as esm: ...; drain = esm.drain()`.

    The containers start (interpreter up, harness imported, handler not imported) when the mapping is
    entered, so what `drain` measures starts with the function's own cold start, as in Lambda."""

    def __init__(
        self,
        world: World,
        concurrency: int = 2,
        function_id: str = "RotateFunction",
        patches: list[str] | None = None,
        profile_invocation: int = -1,
        env: dict[str, str] | None = None,
    ) -> None:
        self.world = world
        self.env = {**world.env, **(env or {})}
        self.concurrency = concurrency
        self.function_id = function_id
        self.patches = patches or []
        self.profile_invocation = profile_invocation
        self.containers: list[Container] = []
        self._log_dir = tempfile.mkdtemp(prefix="certrotate-bench-")
        self.failed = False

    def __enter__(self) -> EventSourceMapping:
        for n in range(self.concurrency):
            self.containers.append(
                Container(
                    self.function_id,
                    self.env,
                    Path(self._log_dir) / f"container-{n}.log",
                    self.patches,
                    self.profile_invocation,
                )
            )
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        for container in self.containers:
            container.close()
        # The containers' logs (the functions' own output) are kept only when something went wrong.
        if exc_type is None and not self.failed:
            shutil.rmtree(self._log_dir, ignore_errors=True)
        else:
            log(f"the containers' logs are kept in {self._log_dir}")

    def drain(self, producing: Callable[[], bool] | None = None) -> Drain:
        """Processes the queue until it is empty and nothing is in flight, and (with `producing`) the producer
        says it is done: as Lambda's pollers, which receive each message as soon as it is sent, while the
        scan that sends them is still running."""
        lock = threading.Lock()
        state = {"in_flight": 0}
        drain = Drain(wall=0.0, log_dir=self._log_dir)
        errors: list[BaseException] = []
        region = self.world.stack.region

        def poll(index: int, container: Container) -> None:
            sqs = self.world.stack.client("sqs", config=None)
            first = True
            while True:
                with lock:
                    state["in_flight"] += 1
                messages = sqs.receive_message(
                    QueueUrl=self.world.queue_url,
                    MaxNumberOfMessages=1,  # BatchSize 1
                    AttributeNames=["All"],
                ).get("Messages", [])
                if not messages:
                    with lock:
                        state["in_flight"] -= 1
                        idle = state["in_flight"] == 0
                    if idle and not (producing is not None and producing()):
                        return
                    time.sleep(0.02)
                    continue
                message = messages[0]
                record = sqs_record(message, self.world.queue_url, region)
                receives = int(record["attributes"]["ApproximateReceiveCount"])
                reply = container.call({"Records": [record]})
                invocation = Invocation(index, first, reply, receives)
                first = False
                with lock:
                    drain.invocations.append(invocation)
                if not invocation.failed:
                    sqs.delete_message(QueueUrl=self.world.queue_url, ReceiptHandle=message["ReceiptHandle"])
                elif receives >= MAX_RECEIVES:
                    sqs.delete_message(QueueUrl=self.world.queue_url, ReceiptHandle=message["ReceiptHandle"])
                    with lock:
                        drain.dead_letters += 1
                else:
                    sqs.change_message_visibility(
                        QueueUrl=self.world.queue_url,
                        ReceiptHandle=message["ReceiptHandle"],
                        VisibilityTimeout=0,
                    )
                with lock:
                    state["in_flight"] -= 1

        def run(index: int, container: Container) -> None:
            try:
                poll(index, container)
            except BaseException as exc:
                errors.append(exc)

        threads = [
            threading.Thread(target=run, args=(i, c), name=f"esm-{i}") for i, c in enumerate(self.containers)
        ]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        drain.wall = time.perf_counter() - started
        if errors:
            raise RuntimeError(f"the event source mapping failed: {errors[0]!r}") from errors[0]
        self.failed = self.failed or bool(drain.failures)
        return drain

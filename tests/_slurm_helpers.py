"""A real single-node Slurm for the tests: munged, slurmctld and slurmd of Debian's slurm-wlm and
munge packages, started as root on localhost from a folder the test owns (its own munge key and
socket, slurm.conf, state and spool folders, ports), and stopped afterwards.

Nothing of the machine's own Slurm or munge configuration is read or changed: every daemon and
client gets the private paths (``SLURM_CONF``, ``AuthInfo=socket=...``).
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

DAEMONS = {"munged": "/usr/sbin/munged", "slurmctld": "/usr/sbin/slurmctld", "slurmd": "/usr/sbin/slurmd"}
CLIENTS = ("sbatch", "squeue", "scontrol", "scancel", "srun")
#: Debian packages that provide them (also in setup/setup.sh's list).
PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")


def missing() -> list[str]:
    gone = [p for p in DAEMONS.values() if not os.access(p, os.X_OK)]
    return gone + [c for c in CLIENTS if shutil.which(c) is None]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Slurm:
    root: Path
    env: dict = field(default_factory=dict)
    procs: list = field(default_factory=list)

    def sh(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        cp = subprocess.run(list(args), env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and cp.returncode != 0:
            raise AssertionError(f"{' '.join(args)}: status {cp.returncode}\n{cp.stdout}\n{cp.stderr}\n{self.logs()}")
        return cp

    def logs(self) -> str:
        out = []
        for name in ("slurmctld.log", "slurmd.log", "munged.log"):
            p = self.root / name
            if p.is_file():
                out.append(f"--- {name} (last lines)\n" + "\n".join(p.read_text(errors="replace").splitlines()[-25:]))
        return "\n".join(out)

    def start(self, cpus: int) -> "Slurm":
        r = self.root
        for d in ("state", "spool", "munge"):
            (r / d).mkdir(parents=True, exist_ok=True)
        os.chmod(r / "munge", 0o700)
        key = r / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        os.chmod(key, 0o600)
        sock = r / "munge" / "munge.socket"
        self.procs.append(subprocess.Popen(
            [DAEMONS["munged"], "--foreground", "--force", f"--socket={sock}", f"--key-file={key}",
             f"--log-file={r / 'munged.log'}", f"--pid-file={r / 'munge' / 'munged.pid'}",
             f"--seed-file={r / 'munge' / 'munged.seed'}"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
        self._wait(lambda: sock.exists(), "munged socket")
        node = socket.gethostname().split(".")[0]
        conf = r / "slurm.conf"
        conf.write_text("\n".join([
            "ClusterName=simplenet-test",
            f"SlurmctldHost={node}(127.0.0.1)",
            f"SlurmctldPort={_free_port()}",
            f"SlurmdPort={_free_port()}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            f"AuthInfo=socket={sock}",
            "CredType=cred/munge",
            f"StateSaveLocation={r / 'state'}",
            f"SlurmdSpoolDir={r / 'spool'}",
            f"SlurmctldPidFile={r / 'slurmctld.pid'}",
            f"SlurmdPidFile={r / 'slurmd.pid'}",
            f"SlurmctldLogFile={r / 'slurmctld.log'}",
            f"SlurmdLogFile={r / 'slurmd.log'}",
            "SlurmctldDebug=info",
            "SlurmdDebug=info",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "SchedulerType=sched/builtin",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_CPU",
            "MpiDefault=none",
            "ReturnToService=2",
            "JobRequeue=1",
            "KillWait=30",
            "MinJobAge=3600",
            "InactiveLimit=0",
            "SlurmdTimeout=300",
            "PlugStackConfig=/dev/null",
            f"NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN",
            "PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
        ]) + "\n")
        self.env = dict(os.environ, SLURM_CONF=str(conf))
        self.procs.append(subprocess.Popen([DAEMONS["slurmctld"], "-D", "-i", "-f", str(conf)], env=self.env,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
        self._wait(lambda: self.sh("scontrol", "ping", check=False).stdout.count("UP") >= 1, "slurmctld")
        self.procs.append(subprocess.Popen([DAEMONS["slurmd"], "-D", "-f", str(conf)], env=self.env,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
        self._wait(lambda: "idle" in self.sh("sinfo", "-h", "-o", "%T", check=False).stdout, "slurmd (node idle)")
        return self

    def _wait(self, ok, what: str, timeout: float = 60) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for p in self.procs:
                if p.poll() is not None:
                    raise AssertionError(f"{p.args[0]} exited with status {p.returncode} while waiting for {what}\n"
                                         f"{self.logs()}")
            if ok():
                return
            time.sleep(0.5)
        raise AssertionError(f"timed out waiting for {what}\n{self.logs()}")

    def stop(self) -> None:
        if self.env and self.procs:
            # cancel every job and let slurmd finish them (SIGTERM, KillWait, SIGKILL), so that no
            # job step outlives the daemons
            subprocess.run(["scancel", "--full", "--user=root"], env=self.env, capture_output=True, timeout=60)
            end = time.monotonic() + 120
            while time.monotonic() < end and self.sh("squeue", "-h", check=False).stdout.strip():
                time.sleep(1)
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.procs.clear()

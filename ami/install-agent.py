#!/usr/bin/env python3
# Installs the herd agent on a stock image at first boot: cloud-init runs it from the
# user-data `herd user-data` prints (ami/user-data.yaml; docs/image.md). It fetches the herd
# executable from S3 with the instance profile's credentials (IMDSv2), refuses it unless its
# sha256 is the one the user-data pins, installs it as /usr/local/bin/herd, creates the app
# user and starts herd-agent.service. Nothing is run before its digest checks out.
#
# Python rather than curl --aws-sigv4: python3 is on every image cloud-init runs on (cloud-init
# is written in it), while curl signs requests only from 7.75 (Debian 11 has 7.74) and the way
# it signs S3's x-amz-* headers changed between versions. Standard library only, Python 3.6+.
# The credentials never reach a command line or a log line.
import argparse
import hashlib
import hmac
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
DEFAULT_IMDS = "http://169.254.169.254"


class Refused(Exception):
    """A failure that trying again will not fix: a wrong digest, access denied, no such object."""


def log(message):
    print("herd-install: " + message, file=sys.stderr, flush=True)


def retrying(what, attempts, fn):
    """fn(), tried up to `attempts` times with a growing pause; a Refused is final at once."""
    delay = 1
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except Refused:
            raise
        except Exception as err:  # noqa: BLE001 - network, IMDS not ready, credentials not there yet
            if attempt == attempts:
                raise Refused("%s: %s (after %d attempts)" % (what, err, attempts))
            log("%s: %s; trying again in %d s" % (what, err, delay))
            time.sleep(delay)
            delay = min(delay * 2, 15)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirect would carry a signature made for another host: surface S3's answer instead.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


# The metadata service is link-local: never through a proxy. S3 may be.
IMDS_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)
S3_OPENER = urllib.request.build_opener(_NoRedirect)


def imds_credentials(base):
    """The instance profile's credentials, read over IMDSv2 (a session token first, never v1)."""
    token_req = urllib.request.Request(
        base + "/latest/api/token", method="PUT", headers={"X-aws-ec2-metadata-token-ttl-seconds": "300"})
    with IMDS_OPENER.open(token_req, timeout=5) as res:
        token = res.read().decode()

    def get(path):
        req = urllib.request.Request(base + "/latest/meta-data/" + path, headers={"X-aws-ec2-metadata-token": token})
        with IMDS_OPENER.open(req, timeout=5) as res:
            return res.read().decode()

    try:
        names = get("iam/security-credentials/").split()
    except urllib.error.HTTPError as err:
        if err.code == 404:
            raise Exception("no instance profile credentials yet (is an instance profile attached?)")
        raise
    if not names:
        raise Exception("no instance profile credentials yet (is an instance profile attached?)")
    doc = json.loads(get("iam/security-credentials/" + names[0]))
    if doc.get("Code") != "Success":
        raise Exception("instance profile credentials not ready: %s" % doc.get("Code"))
    return {"id": doc["AccessKeyId"], "secret": doc["SecretAccessKey"], "token": doc.get("Token")}


def _hmac(key, text):
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def sigv4_headers(url, region, creds, now=None):
    """Headers that sign a GET of `url` for S3 with AWS Signature Version 4 (header form).

    `url`'s path must already be URI-encoded as S3 wants it (herd's keys need no encoding)."""
    parts = urllib.parse.urlsplit(url)
    amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    day = amz_date[:8]
    headers = {"host": parts.netloc, "x-amz-content-sha256": EMPTY_SHA256, "x-amz-date": amz_date}
    if creds.get("token"):
        headers["x-amz-security-token"] = creds["token"]
    names = sorted(headers)
    canonical = "\n".join([
        "GET",
        parts.path or "/",
        "",  # no query string
        "".join("%s:%s\n" % (name, headers[name].strip()) for name in names),
        ";".join(names),
        EMPTY_SHA256,
    ])
    scope = "%s/%s/s3/aws4_request" % (day, region)
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + creds["secret"]).encode()
    for part in (day, region, "s3", "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
        creds["id"], scope, ";".join(names), signature)
    del headers["host"]  # urllib sends the URL's own host:port, which is what was signed
    return headers


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_checked(url, region, creds, want, dest):
    """Streams the object into a temporary file beside `dest`; returns its path only when its
    sha256 is `want`, else removes it and raises Refused."""
    req = urllib.request.Request(url, headers=sigv4_headers(url, region, creds))
    try:
        res = S3_OPENER.open(req, timeout=30)
    except urllib.error.HTTPError as err:
        body = err.read(2048).decode(errors="replace")
        code = body.split("<Code>")[1].split("</Code>")[0] if "<Code>" in body else err.reason
        if err.code >= 500 or err.code == 429:
            raise Exception("HTTP %d %s" % (err.code, code))
        raise Refused("cannot fetch %s: HTTP %d %s%s" % (url, err.code, code, hint(err.code)))
    fd, tmp = tempfile.mkstemp(prefix=".herd-", dir=os.path.dirname(dest))
    try:
        digest = hashlib.sha256()
        size = 0
        with res, os.fdopen(fd, "wb") as out:
            for chunk in iter(lambda: res.read(1 << 20), b""):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        got = digest.hexdigest()
        if got != want:
            raise Refused("refusing %s: its sha256 is %s, the user-data expects %s (%d bytes fetched)" % (url, got, want, size))
        return tmp, size
    except BaseException:
        os.unlink(tmp)
        raise


def hint(status):
    if status == 403:
        return " (does the instance profile have `herd iam-policy --which instance`'s ReadAgentExecutable?)"
    if status == 404:
        return " (publish it with `herd publish-agent`)"
    return ""


def run(argv):
    log("$ " + " ".join(argv))
    subprocess.run(argv, check=True)


def ensure_user(name):
    if subprocess.run(["id", "-u", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
        return
    nologin = "/usr/sbin/nologin" if os.path.exists("/usr/sbin/nologin") else "/sbin/nologin"
    run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell", nologin, name])


def main():
    p = argparse.ArgumentParser(description="Fetch, check and install the herd executable, then start the agent.")
    p.add_argument("--url", required=True, help="the executable's S3 URL (herd user-data writes it)")
    p.add_argument("--region", required=True, help="the bucket's region, for the signature")
    p.add_argument("--sha256", required=True, help="the executable's sha256 (64 hex digits)")
    p.add_argument("--dest", default="/usr/local/bin/herd")
    p.add_argument("--app-user", default="app", help="user the agent runs the app as; created when missing ('' for none)")
    p.add_argument("--no-start", action="store_true", help="install the executable only (no user, no service)")
    p.add_argument("--attempts", type=int, default=10, help="tries for the metadata service and S3 (pauses 1, 2, 4 .. 15 s)")
    args = p.parse_args()
    want = args.sha256.lower()
    if len(want) != 64 or any(c not in "0123456789abcdef" for c in want):
        raise Refused("--sha256 %r is not 64 hex digits" % args.sha256)
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "amd64"):
        raise Refused("the herd executable is for Linux x86_64; this machine is %s %s" % (platform.system(), platform.machine()))

    if os.path.exists(args.dest) and sha256_of(args.dest) == want:
        log("%s is already the executable with sha256 %s" % (args.dest, want))
    else:
        base = os.environ.get("AWS_EC2_METADATA_SERVICE_ENDPOINT", DEFAULT_IMDS).rstrip("/")
        os.makedirs(os.path.dirname(args.dest), exist_ok=True)

        def fetch():
            creds = imds_credentials(base)
            return download_checked(args.url, args.region, creds, want, args.dest)

        tmp, size = retrying("fetching " + args.url, args.attempts, fetch)
        os.chmod(tmp, 0o755)
        os.rename(tmp, args.dest)
        log("installed %s (%d bytes, sha256 %s)" % (args.dest, size, want))

    if args.no_start:
        return
    if args.app_user:
        ensure_user(args.app_user)
    run(["systemctl", "daemon-reload"])
    run(["systemctl", "enable", "--now", "herd-agent.service"])


if __name__ == "__main__":
    try:
        main()
    except Refused as err:
        log(str(err))
        sys.exit(1)
    except subprocess.CalledProcessError as err:
        log("failed: %s" % err)
        sys.exit(1)

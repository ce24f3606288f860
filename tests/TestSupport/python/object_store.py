"""file:// and s3:// reads and writes for the pyflyte-execute stand-in, as flytekit's data persistence
does them: s3 through FLYTE_AWS_ENDPOINT with FLYTE_AWS_ACCESS_KEY_ID/SECRET (the Flyte sandbox's
settings), signed with AWS Signature Version 4, path-style; standard library only."""
import datetime
import hashlib
import hmac
import os
import urllib.error
import urllib.parse
import urllib.request


class NotFound(Exception):
    pass


def read(uri):
    scheme, bucket, key = _split(uri)
    if scheme == "file":
        try:
            with open(key, "rb") as f:
                return f.read()
        except FileNotFoundError as e:
            raise NotFound(uri) from e
    return _s3("GET", bucket, key, b"")


def write(uri, data):
    scheme, bucket, key = _split(uri)
    if scheme == "file":
        os.makedirs(os.path.dirname(key), exist_ok=True)
        tmp = key + ".part"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, key)
        return
    _s3("PUT", bucket, key, data)


def _split(uri):
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme == "s3":
        return "s3", parsed.netloc, parsed.path.lstrip("/")
    if parsed.scheme == "file":
        return "file", None, parsed.path
    if parsed.scheme == "":
        return "file", None, uri
    raise ValueError(f"{uri}: unsupported scheme {parsed.scheme!r}")


def _s3(method, bucket, key, body):
    endpoint = os.environ.get("FLYTE_AWS_ENDPOINT") or os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        raise RuntimeError("no S3 endpoint: set FLYTE_AWS_ENDPOINT")
    access = os.environ.get("FLYTE_AWS_ACCESS_KEY_ID") or os.environ["AWS_ACCESS_KEY_ID"]
    secret = os.environ.get("FLYTE_AWS_SECRET_ACCESS_KEY") or os.environ["AWS_SECRET_ACCESS_KEY"]
    region = os.environ.get("AWS_REGION", "us-east-1")
    host = urllib.parse.urlparse(endpoint).netloc
    path = "/" + urllib.parse.quote(f"{bucket}/{key}", safe="/-_.~")
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    payload_hash = hashlib.sha256(body).hexdigest()
    headers = {"host": host, "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date}
    signed = ";".join(sorted(headers))
    canonical = "\n".join([method, path, "", "".join(f"{k}:{headers[k]}\n" for k in sorted(headers)), signed, payload_hash])
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key_bytes = ("AWS4" + secret).encode()
    for part in (day, region, "s3", "aws4_request"):
        key_bytes = hmac.new(key_bytes, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key_bytes, to_sign.encode(), hashlib.sha256).hexdigest()
    request = urllib.request.Request(endpoint.rstrip("/") + path, data=body if method == "PUT" else None, method=method)
    for name, value in headers.items():
        if name != "host":
            request.add_header(name, value)
    request.add_header("Authorization", f"AWS4-HMAC-SHA256 Credential={access}/{scope}, SignedHeaders={signed}, Signature={signature}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.read()
    except urllib.error.HTTPError as e:
        if e.code == 404:
            raise NotFound(f"s3://{bucket}/{key}") from e
        raise RuntimeError(f"{method} s3://{bucket}/{key}: HTTP {e.code}: {e.read()[:300]!r}") from e

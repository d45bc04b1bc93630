"""Realistic strings that carry a secret (each must come out masked), and
near-misses that look a little like one (each must come out unchanged).

Shared by the unit test of the redactor (tests/pipeline/test_redact.py) and the
end-to-end check of every view (tests/service/test_redaction_flow.py). Fake
secrets are assembled from pieces so that no literal here looks like a live
credential to a secret scanner.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

__all__ = ["KEYED_LEAKS", "KEYED_NEAR_MISSES", "LEAKS", "NEAR_MISSES", "KeyedLeak", "Leak", "fake"]

ALNUM = string.ascii_letters + string.digits
B64 = ALNUM + "+/"
B64URL = ALNUM + "-_"
HEX = "0123456789abcdef"


def fake(n: int, alphabet: str = ALNUM, seed: int = 7) -> str:
    """A deterministic pseudo-random string of `n` characters from `alphabet`."""
    return "".join(alphabet[(seed * 31 + i * 17 + i * i) % len(alphabet)] for i in range(n))


@dataclass(frozen=True)
class Leak:
    family: str  # the name for the gap
    text: str  # as it arrives in an alert
    secret: str  # the part that must not survive (checked as a substring)


@dataclass(frozen=True)
class KeyedLeak:
    family: str
    where: str  # "labels" or "annotations"
    key: str
    value: str  # all of it is secret


AWS_SECRET = fake(38, B64, seed=3) + "K9"
AZURE_KEY = fake(86, B64, seed=5) + "=="
SAS_SIG = "aB3" + fake(40, ALNUM, seed=9) + "%2B" + fake(6, ALNUM, seed=2) + "%3D"
AMZ_SIG = fake(64, HEX, seed=11)
GOOGLE_ACCESS = "ya" + "29." + "a0AfH6SM" + fake(60, B64URL, seed=13)
GOOGLE_REFRESH = "1/" + "/0g" + fake(90, B64URL, seed=17)
SA_KEY_ID = fake(40, HEX, seed=19)
XOXE = "xo" + "xe-1-" + fake(40, ALNUM, seed=23)
XOXS = "xo" + "xs-" + fake(12, string.digits, seed=29) + "-" + fake(24, ALNUM, seed=29)
XOXE_XOXP = "xo" + "xe.xo" + "xp-1-" + fake(48, ALNUM, seed=31)
PEM_BODY = "\n".join(fake(64, B64, seed=s) for s in range(37, 41))
RSA_DER = "MII" + "EpAIBAAKCAQEA" + fake(120, B64, seed=41)
PKCS8_DER = "MII" + "EvQIBADANBgkqhkiG9w0BAQEFAASC" + fake(100, B64, seed=43)
EC_DER = "MH" + "cCAQEEI" + fake(70, B64, seed=47)
OPENSSH_BODY = "b3Blbn" + "NzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ" + fake(80, B64, seed=53)
COOKIE_SID = fake(32, ALNUM, seed=59)
DIGEST_RESPONSE = fake(32, HEX, seed=61)
SIGV4 = fake(64, HEX, seed=67)
APIKEY = fake(40, ALNUM, seed=71)

LEAKS: list[Leak] = [
    # pwd= / pass= / DB_PASS= / credentials= / auth=
    Leak("pwd", "Server=db01;Database=app;Uid=sa;Pwd=Xk9mq2Lz;", "Xk9mq2Lz"),
    Leak("pwd", "login failed: pwd=Tr0ub4dor&user=bob", "Tr0ub4dor"),
    Leak("pwd", '{"user": "bob", "pwd": "s3cr3t pass"}', "s3cr3t pass"),
    Leak("pass", "mysql -u root --defaults pass=hunter22", "hunter22"),
    Leak("pass", "redis AUTH failed: pass='C0rrectH0rse'", "C0rrectH0rse"),
    Leak("DB_PASS", "env DB_PASS=pgAdm1nPw in the pod spec", "pgAdm1nPw"),
    Leak("DB_PASS", "DB_PASS: 'q!w2E#r4'", "q!w2E#r4"),
    Leak("DB_PASS", "dbPass=Wint3rIsC0ming", "Wint3rIsC0ming"),
    Leak("credentials", "credentials=alice:Wonderland9", "alice:Wonderland9"),
    Leak("credentials", 'creds: "svc-ci:Bl4ckb1rd"', "Bl4ckb1rd"),
    Leak("credentials", "SMTP_CREDENTIALS=mailer:Postm4nPat", "Postm4nPat"),
    Leak("auth", "proxy auth=Zm9vOmJhcjEyMw rejected", "Zm9vOmJhcjEyMw"),
    Leak("auth", "X-Auth: 7f3c9a1e55d2", "7f3c9a1e55d2"),
    # Azure connection strings and SAS tokens
    Leak(
        "azure",
        "DefaultEndpointsProtocol=https;AccountName=shopdata;AccountKey="
        + AZURE_KEY
        + ";EndpointSuffix=core.windows.net",
        AZURE_KEY[:40],
    ),
    Leak(
        "azure",
        "Endpoint=sb://bus.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey="
        + AZURE_KEY[:44],
        AZURE_KEY[:40],
    ),
    Leak(
        "azure",
        "GET https://shopdata.blob.core.windows.net/backups/db.bak?sv=2022-11-02&ss=b&srt=o"
        "&sp=r&se=2026-01-06T00:00:00Z&sig=" + SAS_SIG + " 403",
        SAS_SIG[:30],
    ),
    Leak("azure", "sas token sv=2021-06-08&sig=" + SAS_SIG, SAS_SIG[:30]),
    # S3 / GCS pre-signed URLs
    Leak(
        "amz_signature",
        "https://bucket.s3.amazonaws.com/report.csv?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Date=20260105T100000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host"
        "&X-Amz-Signature=" + AMZ_SIG,
        AMZ_SIG,
    ),
    Leak("amz_signature", "x-amz-signature=" + AMZ_SIG + "&x=1", AMZ_SIG),
    Leak(
        "amz_signature",
        "https://storage.googleapis.com/b/o?X-Goog-Signature=" + AMZ_SIG[::-1],
        AMZ_SIG[::-1],
    ),
    # API keys in a query string
    Leak("query_key", "GET https://api.example.com/v2/forecast?key=" + APIKEY + " 401", APIKEY),
    Leak(
        "query_key",
        "https://maps.example.com/geo?city=Oslo&key=9f8e7d6c5b4a3f2e1d0c",
        "9f8e7d6c5b4a3f2e1d0c",
    ),
    Leak("query_key", "webhook /hook;key=" + APIKEY[:24], APIKEY[:24]),
    # Cookies
    Leak("cookie", "Cookie: sessionid=" + COOKIE_SID + "; csrftoken=abc123", COOKIE_SID),
    Leak(
        "cookie",
        "Set-Cookie: sid=" + COOKIE_SID + "; Path=/; HttpOnly; Secure",
        COOKIE_SID,
    ),
    Leak("cookie", '{"Cookie": "jwt_session=' + COOKIE_SID + '"}', COOKIE_SID),
    Leak("cookie", "cookie=" + COOKIE_SID[:20], COOKIE_SID[:20]),
    # Authorization with other schemes
    Leak(
        "authorization",
        'Authorization: Digest username="bob", realm="api", nonce="dcd98b7102dd2f0e",'
        ' uri="/v1", response="' + DIGEST_RESPONSE + '"',
        DIGEST_RESPONSE,
    ),
    Leak(
        "authorization",
        "Authorization: AWS4-HMAC-SHA256 Credential=ops/20260105/us-east-1/s3/aws4_request,"
        " SignedHeaders=host;x-amz-date, Signature=" + SIGV4,
        SIGV4,
    ),
    Leak("authorization", "Authorization: ApiKey " + APIKEY, APIKEY),
    Leak("authorization", '{"authorization": "SSWS ' + APIKEY[:30] + '"}', APIKEY[:30]),
    Leak("authorization", "authorization=" + APIKEY[5:25], APIKEY[5:25]),
    # Short bearer values
    Leak("short_bearer", "Authorization: Bearer t0k3n", "t0k3n"),
    Leak("short_bearer", "curl -H 'Bearer abc12345' https://api", "abc12345"),
    Leak("short_bearer", "bearer=x9y8z7w6", "x9y8z7w6"),
    Leak("short_bearer", "Bearer: Zx81qq0p", "Zx81qq0p"),
    # PEM, any case, and DER bodies without their header
    Leak(
        "pem",
        "-----begin rsa private key-----\n" + PEM_BODY + "\n-----end rsa private key-----",
        PEM_BODY[:40],
    ),
    Leak("pem", "-----Begin Private Key-----\n" + PEM_BODY, PEM_BODY[:40]),
    Leak("pem", "key body: " + RSA_DER, RSA_DER[20:60]),
    Leak("pem", PKCS8_DER[:64] + "\n" + PKCS8_DER[64:], PKCS8_DER[70:110]),
    Leak("pem", '"key": "' + EC_DER + '"', EC_DER[10:50]),
    Leak("pem", "id_ed25519: " + OPENSSH_BODY, OPENSSH_BODY[20:60]),
    # Slack
    Leak("slack", "refresh with " + XOXE, XOXE),
    Leak("slack", "legacy token " + XOXS, XOXS),
    Leak("slack", "SLACK_USER_TOKEN=" + XOXE_XOXP, XOXE_XOXP),
    # Google Cloud
    Leak("gcp", "Authorization token " + GOOGLE_ACCESS + " expired", GOOGLE_ACCESS),
    Leak("gcp", "refresh_token " + GOOGLE_REFRESH, GOOGLE_REFRESH),
    Leak("gcp", '"private_key_id": "' + SA_KEY_ID + '"', SA_KEY_ID),
    Leak("gcp", "private_key_id=" + SA_KEY_ID, SA_KEY_ID),
    # URL passwords with / or #
    Leak("url_password", "postgres://app:pa/ss9w@db.internal:5432/app", "pa/ss9w"),
    Leak("url_password", "redis://:p#ssW0rd@cache:6379/0", "p#ssW0rd"),
    Leak("url_password", "amqp://shop:a/b#c@d9@mq.internal/vhost", "a/b#c@d9"),
    Leak("url_password", "https://ci:Y3s/No#Ok@git.example.com/org/repo.git", "Y3s/No#Ok"),
    # A bare AWS secret access key
    Leak("aws_secret", "aws configure: " + AWS_SECRET, AWS_SECRET),
    Leak("aws_secret", "[default]\ncredentials " + AWS_SECRET + "\n", AWS_SECRET),
    Leak("aws_secret", 'AKIA key pair: "' + AWS_SECRET + '"', AWS_SECRET),
    Leak("aws_secret", "s3 upload failed, secret " + AWS_SECRET + " rejected", AWS_SECRET),
    # Random values under key-ish names (the entropy rule)
    Leak("entropy", "signing_key=" + fake(32, ALNUM, seed=73), fake(32, ALNUM, seed=73)),
    Leak("entropy", "webhook hmac: " + fake(40, HEX, seed=79), fake(40, HEX, seed=79)),
    Leak("entropy", '"encryptionKey": "' + fake(44, B64, seed=83) + '"', fake(44, B64, seed=83)),
    # The kinds that were already covered, in the forms alerts carry them
    Leak("password", "password=hunter2 user=bob", "hunter2"),
    Leak("password", 'DB_PASSWORD: "correct horse"', "correct horse"),
    Leak("token", "X-Auth-Token: abc123def", "abc123def"),
    Leak("api_key", "x-api-key: " + APIKEY[:20], APIKEY[:20]),
    Leak("url_password", "https://deploy:s3cr3t99@git.example.com/", "s3cr3t99"),
    Leak("github", "token gh" + "p_" + fake(36, seed=89) + " leaked", fake(36, seed=89)),
    Leak("jwt", "eyJ" + "hbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0." + fake(43, B64URL), fake(43, B64URL)),
    Leak(
        "aws_access_key_id",
        "key AK" + "IA" + fake(16, string.ascii_uppercase),
        "IA" + fake(16, string.ascii_uppercase),
    ),
]

KEYED_LEAKS: list[KeyedLeak] = [
    # Label values under secret-named keys
    KeyedLeak("label", "labels", "password", "hunter22"),
    KeyedLeak("label", "labels", "db_password", "pgAdm1n"),
    KeyedLeak("label", "labels", "DB-PASSWORD", "tiger-5"),
    KeyedLeak("label", "labels", "token", "tkn-901"),
    KeyedLeak("label", "labels", "api_key", "k-1234"),
    KeyedLeak("label", "labels", "clientSecret", "cs-abc"),
    KeyedLeak("label", "labels", "pwd", "pw-x1z"),
    KeyedLeak("label", "labels", "session_id", "s-42-x"),
    KeyedLeak("label", "labels", "secret", fake(32, ALNUM, seed=97)),
    # Annotation keys that name a secret
    KeyedLeak("annotation", "annotations", "private_key", "MIIB-short-but-secret"),
    KeyedLeak("annotation", "annotations", "Authorization", "Digest dg442"),
    KeyedLeak("annotation", "annotations", "credential", "svc:pa55"),
    KeyedLeak("annotation", "annotations", "credentials", "u7:p7q"),
    KeyedLeak("annotation", "annotations", "PrivateKeyId", "pkid-773"),
    KeyedLeak("annotation", "annotations", "set-cookie", "ck=v992"),
    KeyedLeak("annotation", "annotations", "auth", "plain words too"),
    KeyedLeak("annotation", "annotations", "signature", fake(64, HEX, seed=101)),
]

NEAR_MISSES: list[str] = [
    "passenger=3 seats=4",
    "bypass=true compass=north",
    "keyboard layout de; monkey=1",
    "keyword=disk sort_key=created_at",
    "signature=valid sig=SIGTERM",
    "PWD=/home/app",
    "pass=12 fail=0 skip=1",
    "author=alice oauth=enabled authority=ca.example",
    "session_count=4 sessions: 12",
    "max_tokens=100 token_count: 4 tokens: 5",
    "credentials rotated; cookie banner shown",
    "Authorization header missing",
    "Bearer authentication failed; Bearer Token required",
    "commit 3f786850e387550fdab836ed7e6dc881de23001b deployed",
    "request 123e4567-e89b-12d3-a456-426614174000 failed",
    "image registry.example.com/app@sha256:"
    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "https://prometheus.example.com:9090/users/bob@example.com",
    "https://grafana.example.com:3000/d/abc?orgId=1&from=now-1h",
    "mailto:ops@example.com",
    "-----BEGIN CERTIFICATE-----\n"
    "MIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG9w0BAQUFADBaMQswCQYDVQQGEwJJ\n"
    "-----END CERTIFICATE-----",
    "pubkey MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6",
    "released 1/2/2026; ratio 1//2",
    "ya29 is not a token; ya29.short",
    "xoxo from the team",
    "pod checkout-api-7d9f8c6b5-x2k4p on 10.2.3.4:8080",
    "/var/lib/kubelet/pods/8f1e2d3c/volumes/kubernetes.io~secret/db-creds",
    "X-Amz-Date=20260105T100000Z&X-Amz-Expires=3600",
    "auth-gateway returned 503 for /login",
    "secret_name: db-creds, secrets: 3",
    "job kube-secret-expiry-check: 2 certificates expire in 7d",
]

KEYED_NEAR_MISSES: list[tuple[str, str, str]] = [
    ("labels", "commit", "3f786850e387550fdab836ed7e6dc881de23001b"),
    ("labels", "request_id", "123e4567-e89b-12d3-a456-426614174000"),
    ("labels", "secret", "db-creds"),
    ("labels", "secret", "tls-checkout-api-2024"),
    ("labels", "key", "checkout"),
    ("labels", "sort_key", "created_at"),
    ("labels", "token_count", "4"),
    ("labels", "secret_name", "db-creds"),
    ("labels", "author", "alice"),
    ("labels", "passenger", "3"),
    ("annotations", "signature", "valid"),
    ("annotations", "keyboard", "de"),
    ("annotations", "monkey", "1"),
]

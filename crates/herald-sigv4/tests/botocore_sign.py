"""Sign requests with botocore, the signer behind boto3 and the AWS CLI.

Driven by tests/botocore.rs: reads a JSON object from stdin
({"access_key", "secret_key", "region", "cases": [...]}) and prints, for each
case, the request exactly as botocore would send it. Signing is pure
computation: no credentials chain, no metadata service, no network.
"""

import json
import os
import sys

os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

try:
    from botocore.auth import SigV4Auth, SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
except ImportError as exc:  # pragma: no cover - exercised only on bad hosts
    sys.stderr.write(f"botocore is not importable ({exc}); run `pip install boto3`\n")
    sys.exit(3)


def main():
    spec = json.load(sys.stdin)
    creds = Credentials(spec["access_key"], spec["secret_key"])
    out = []
    for case in spec["cases"]:
        req = AWSRequest(
            method=case["method"],
            url=case["url"],
            data=case.get("body", ""),
            headers=case.get("headers", {}),
            params=case.get("params", {}),
        )
        if case.get("presign"):
            SigV4QueryAuth(creds, case["service"], spec["region"], expires=case["presign"]).add_auth(req)
        else:
            SigV4Auth(creds, case["service"], spec["region"]).add_auth(req)
        prepared = req.prepare()
        body = prepared.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        out.append(
            {
                "name": case["name"],
                "method": prepared.method,
                "url": prepared.url,
                "headers": [[k, v] for k, v in prepared.headers.items()],
                "body": body.decode("utf-8"),
            }
        )
    json.dump(out, sys.stdout)


main()

"""An S3-compatible server for the integration tests: moto's, on a free loopback port, with
request signatures checked (after the first three requests, which make the `loader` user,
its access key and its policy; every later request must be signed with that key).

Prints one JSON line ({"endpoint", "access_key_id", "secret_access_key"}), then takes
commands as JSON lines on stdin, answering each with a JSON line:
  {"op": "bucket", "bucket": B}                     create a bucket
  {"op": "put", "bucket": B, "key": K, "file": F}   upload local file F as K
  {"op": "delete", "bucket": B, "key": K}
  {"op": "list", "bucket": B, "prefix": P}          answers {"ok", "keys": [...]}
  {"op": "get", "bucket": B, "key": K, "file": F}   download K to local file F
Stops when stdin closes.

moto rebuilds each request's URL with `/` left unescaped in the query before checking its
signature, so a signed `ListObjectsV2` with `prefix=a/b/` (correctly signed as `a%2Fb%2F`, as
AWS does) fails; `strict_query` re-encodes the query as AWS canonicalizes it before moto
computes the signature. Signatures are still checked.
"""
import json
import os
import sys

os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "3"

from urllib.parse import parse_qsl, quote, urlsplit  # noqa: E402

import boto3  # noqa: E402
from moto.iam import access_control  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402


def strict_query(create):
    def patched(self):
        request = create(self)
        parts = urlsplit(request.url)
        if parts.query:
            pairs = parse_qsl(parts.query, keep_blank_values=True)
            query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in pairs)
            request.url = parts._replace(query=query).geturl()
        return request
    return patched


access_control.IAMRequestBase._create_aws_request = strict_query(
    access_control.IAMRequestBase._create_aws_request)

POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
}


def main():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    anon = dict(endpoint_url=endpoint, region_name="us-east-1",
                aws_access_key_id="setup", aws_secret_access_key="setup")
    iam = boto3.client("iam", **anon)
    iam.create_user(UserName="loader")
    key = iam.create_access_key(UserName="loader")["AccessKey"]
    iam.put_user_policy(UserName="loader", PolicyName="all", PolicyDocument=json.dumps(POLICY))
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id=key["AccessKeyId"],
                      aws_secret_access_key=key["SecretAccessKey"])
    print(json.dumps({"endpoint": endpoint, "access_key_id": key["AccessKeyId"],
                      "secret_access_key": key["SecretAccessKey"]}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        try:
            if cmd["op"] == "bucket":
                s3.create_bucket(Bucket=cmd["bucket"])
            elif cmd["op"] == "put":
                with open(cmd["file"], "rb") as f:
                    s3.put_object(Bucket=cmd["bucket"], Key=cmd["key"], Body=f.read())
            elif cmd["op"] == "delete":
                s3.delete_object(Bucket=cmd["bucket"], Key=cmd["key"])
            elif cmd["op"] == "list":
                pages = s3.get_paginator("list_objects_v2").paginate(
                    Bucket=cmd["bucket"], Prefix=cmd.get("prefix", ""))
                keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
                print(json.dumps({"ok": True, "keys": keys}), flush=True)
                continue
            elif cmd["op"] == "get":
                body = s3.get_object(Bucket=cmd["bucket"], Key=cmd["key"])["Body"].read()
                with open(cmd["file"], "wb") as f:
                    f.write(body)
            print(json.dumps({"ok": True}), flush=True)
        except Exception as e:  # answered, so the test fails naming it
            print(json.dumps({"ok": False, "error": str(e)}), flush=True)
    server.stop()


if __name__ == "__main__":
    main()

"""Finding 8 (AWS half): secrets in answers and logs.

The release AWS plugin against moto, through a tampering proxy that answers every call with an
EC2 error (InvalidParameterValue, whose message Nephele passes on) quoting the request's
`x-amz-security-token` and `Authorization` headers, and the token again as the request id.
Counted: copies of the session token, the access key id and the request signatures in the
answers a caller gets (the provider's list, the fleet) and in the server's log. Then a plain
`http://` endpoint_url off this machine: refused, naming the key.
"""

import os

from harness import Moto, NepheleProviders, TamperingProxy, request

GROUP = "8. secrets in answers and logs (AWS)"

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQDattacksessiontoken+AbCdEf=="
ACCESS_KEY_ID = "ASIAATTACKKEYID00001"
SECRET = "attack-secret-never-shown"


def echo(method, path, headers, body):
    token = headers.get("x-amz-security-token", "")
    signed = headers.get("authorization", "")
    xml = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>InvalidParameterValue</Code>"
           f"<Message>The security token {token} is not valid for this request (signed {signed})</Message>"
           f"</Error></Errors><RequestID>{token}</RequestID></Response>").encode()
    return 400, {"Content-Type": "text/xml"}, xml


def aws_section(plugin, endpoint, extra=""):
    return f"""  aws:
    plugin: {plugin}
    region: us-east-1
    access_key_id: {ACCESS_KEY_ID}
    secret_access_key: {SECRET}
    session_token: "{SESSION_TOKEN}"
    endpoint_url: {endpoint}
{extra}"""


def run(env):
    rows = []
    moto = Moto(REPO)
    proxy = TamperingProxy(moto.url)
    # Plugin paths in a config are read relative to its folder.
    plugin = os.path.abspath(env.binary("nephele-provider-aws"))
    server = NepheleProviders(env.binary("nephele"), aws_section(plugin, proxy.url), directory=env.scratch("g08b"))
    try:
        server.wait_ready()
        proxy.before = echo
        answers = []
        for path in ("/api/v1/providers/aws/instances?fresh=true", "/api/v1/instances?fresh=true",
                     "/api/v1/providers/aws/instances?fresh=true"):
            status, body = request(server.port, "GET", path)
            answers.append(f"{status} {body}")
        echoed = [h.get("authorization", "") for _, _, h, _ in proxy.seen if h.get("authorization")]
        signatures = [a.rsplit("Signature=", 1)[-1] for a in echoed if "Signature=" in a]
        reached = any("[redacted]" in a for a in answers)
    finally:
        server.stop()
        proxy.stop()
    log = server.log_text()
    text = "\n".join(answers)
    for what, secrets in (("session token", [SESSION_TOKEN]), ("access key id", [ACCESS_KEY_ID]),
                          ("request signatures", signatures), ("Authorization headers", echoed)):
        in_answers = sum(text.count(s) for s in secrets)
        in_log = sum(log.count(s) for s in secrets)
        rows.append((f"{what} echoed by the endpoint: copies in answers / in the log", f"{in_answers} / {in_log}",
                     "0 / 0", in_answers == 0 and in_log == 0 and reached))

    clear = NepheleProviders(env.binary("nephele"), aws_section(plugin, "http://192.0.2.10:5000"),
                             directory=env.scratch("g08b-http"))
    try:
        status, body = request(clear.port, "GET", "/api/v1/providers")
        aws = [p for p in (body or {}).get("providers", []) if p.get("name") == "aws"]
        refusal = (aws[0].get("error") or "") if aws else ""
        refused = "endpoint_url" in refusal and "allow_insecure_http" in refusal
        rows.append(("plain http:// endpoint_url off this machine (session token in clear)",
                     "refused, naming endpoint_url" if refused else f"accepted: {refusal!r}", "refused", refused))
    finally:
        clear.stop()
        moto.stop()
    return rows

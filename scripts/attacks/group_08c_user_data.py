"""Finding 8: viewers saw an unsalted SHA-256 of a create's `user_data` (a short secret's digest
can be guessed). Now an operation shows only `{redacted, bytes}`.

Against a release `nephele serve` with keys required: an operator creates an instance with
user data holding a password; a viewer reads the operation and the operations list.
"""

import json

from harness import Dosim, Nephele, request

GROUP = "8c. user_data to viewers"

SECRET = "#cloud-config\npassword: hunter2hunter2"


def run(env):
    import hashlib

    sim = Dosim(env.binary("dosim"))
    server = Nephele(env.binary("nephele"), sim.url, directory=env.scratch("group_08c"), auth_required=True)
    try:
        operator, viewer = server.make_key("operator"), server.make_key("viewer")
        status, body = request(server.port, "POST", "/api/v1/providers/digitalocean/instances",
                               {"name": "web", "type": "s-1vcpu-1gb", "region": "nyc1",
                                "image_id": "ubuntu-24-04-x64", "user_data": SECRET},
                               {"Authorization": f"Bearer {operator}"})
        assert status == 202, (status, body)
        operation = body["operation_id"]
        seen = json.dumps([
            request(server.port, "GET", f"/api/v1/operations/{operation}", headers={"Authorization": f"Bearer {viewer}"})[1],
            request(server.port, "GET", "/api/v1/operations", headers={"Authorization": f"Bearer {viewer}"})[1],
        ])
    finally:
        server.stop()
        sim.stop()
    digest = hashlib.sha256(SECRET.encode()).hexdigest()
    leaked = sum(seen.count(x) for x in ("hunter2", digest, "sha256"))
    shown = json.loads(seen)[0]["request"]["user_data"]
    return [
        ("the secret, its SHA-256 or any digest in what a viewer reads", leaked, "0", leaked == 0),
        ("what a viewer sees of user_data", json.dumps(shown), '{"redacted": true, "bytes": 38}',
         shown == {"redacted": True, "bytes": len(SECRET)}),
    ]

"""Finding 8 (the caller's part): a broken config.yaml quoted the DigitalOcean token back, and
/metrics showed every provider's run-rate to anyone.

Against a release `nephele serve` with keys required: `POST .../initialize` after the file is
broken three ways around the token (a type error beside it, in it, a syntax error after it), the
token counted in the answers and in the log; `nephele serve` started on a broken file, the token
counted in what it prints; `/metrics` without a key and with a viewer's.
"""

import os
import subprocess

from harness import TOKEN, Dosim, Nephele, request

GROUP = "8a. secrets in answers"


def run(env):
    rows = []
    sim = Dosim(env.binary("dosim"))
    directory = env.scratch("group_08a")
    server = Nephele(env.binary("nephele"), sim.url, directory=directory, auth_required=True)
    try:
        admin = server.make_key("admin")
        viewer = server.make_key("viewer")
        with open(server.config) as f:
            good = f.read()
        broken = [
            good.replace("    region: nyc1\n", "    region: [nyc1]\n"),
            good.replace(f"api_token: {TOKEN}", f"api_token: {{value: {TOKEN}}}"),
            good.replace("    region: nyc1\n", "    region: \"nyc1\n"),
            good.replace("    region: nyc1\n", f"    rate_limit_burst: {TOKEN}\n"),
        ]
        secret = TOKEN[len("dop_v1_"):]
        in_answers, statuses = 0, []
        for text in broken:
            with open(server.config, "w") as f:
                f.write(text)
            status, body = request(server.port, "POST", "/api/v1/providers/digitalocean/initialize",
                                   headers={"Authorization": f"Bearer {admin}"})
            statuses.append(status)
            in_answers += secret in str(body)
        with open(server.config, "w") as f:
            f.write(good)
        in_log = server.log_tail(100_000).count(secret)
        rows.append(("token in 4 initialize answers on a broken config.yaml", in_answers, "0",
                     in_answers == 0 and all(s == 409 for s in statuses)))
        rows.append(("token in the server's log after them", in_log, "0", in_log == 0))

        leaked = 0
        for i, text in enumerate(broken):
            path = os.path.join(directory, f"broken-{i}.yaml")
            with open(path, "w") as f:
                f.write(text)
            started = subprocess.run([env.binary("nephele"), "serve", "--config", path], capture_output=True,
                                     text=True, timeout=60)
            leaked += (secret in started.stdout) + (secret in started.stderr)
        rows.append(("token in what `nephele serve` prints on 4 broken files", leaked, "0", leaked == 0))

        anonymous = request(server.port, "GET", "/metrics")[0]
        keyed = request(server.port, "GET", "/metrics", headers={"Authorization": f"Bearer {viewer}"})[0]
        rows.append(("/metrics without a key (status)", anonymous, "401", anonymous == 401 and keyed == 200))
    finally:
        server.stop()
        sim.stop()
    return rows

#!/usr/bin/env python3
"""Regenerates crates/aws/data/ec2-linux-prices.json from Apache Libcloud's price data.

Libcloud (Apache-2.0) ships `libcloud/data/pricing.json`; its `compute.ec2_linux` table maps an
instance type to region -> on-demand Linux USD per hour. A price of 0.0 there means *unknown*
(not free), so it is left out: Nephele then has no estimate for that type in that region.
Prices are written as strings, exactly as Python prints the float (its shortest round trip),
so Rust reads them as decimals without binary rounding.

Usage: make ec2-prices   (installs apache-libcloud==3.9.1 into .venv and runs this)
"""

import datetime
import json
import os
import sys

import libcloud

OUT = os.path.join(os.path.dirname(__file__), "..", "crates", "aws", "data", "ec2-linux-prices.json")


def main():
    source = os.path.join(os.path.dirname(libcloud.__file__), "data", "pricing.json")
    with open(source) as f:
        data = json.load(f)
    table = data["compute"]["ec2_linux"]
    updated = datetime.datetime.fromtimestamp(int(data["updated"]), datetime.timezone.utc)
    prices = {}
    unknown = 0
    for instance_type in sorted(table):
        known = {region: repr(float(price)) for region, price in sorted(table[instance_type].items()) if price}
        unknown += len(table[instance_type]) - len(known)
        if known:
            prices[instance_type] = known
    lines = [
        "{",
        '  "source": ' + json.dumps({
            "package": "apache-libcloud",
            "version": libcloud.__version__,
            "file": "libcloud/data/pricing.json, compute.ec2_linux",
            "updated": updated.date().isoformat(),
            "license": "Apache-2.0",
            "currency": "USD",
            "unit": "hour, on-demand, Linux",
        }) + ",",
        '  "prices": {',
    ]
    entries = [f"    {json.dumps(t)}: {json.dumps(p, separators=(',', ':'))}" for t, p in prices.items()]
    lines.append(",\n".join(entries))
    lines += ["  }", "}"]
    with open(OUT, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{len(prices)} types, {sum(len(p) for p in prices.values())} prices, {unknown} unknown (0.0) left out; "
          f"libcloud {libcloud.__version__}, updated {updated.date()}", file=sys.stderr)


if __name__ == "__main__":
    main()

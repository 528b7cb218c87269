#!/usr/bin/env python3
"""Writes customers.jsonl, events.jsonl and expected.txt for the stateless router.

Usage: generate.py [EVENTS] [FOLDER]   (defaults: 3000 events, this folder)

60 customers in three regions (eu, us, apac). Every 17th event is malformed in one of four ways
(not JSON, a negative amount, an unknown kind, no customer field); the rest are routed to
events-<region>. expected.txt lists the output as TOPIC:VALUE lines.
"""
import json, os, sys

count = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
folder = sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(os.path.abspath(__file__))
regions, tiers = ["eu", "us", "apac"], ["bronze", "silver", "gold"]
customers = [{"customer": f"c{i}", "region": regions[i % 3], "tier": tiers[(i // 3) % 3]} for i in range(60)]
events, expected = [], []
for i in range(count):
    c = customers[(i * 7) % 60]
    event = {"id": f"e{i}", "customer": c["customer"], "kind": ["purchase", "refund"][i % 2], "amount": 1 + (i * 13) % 500}
    if i % 17 == 16:
        broken = [f"not json {i}", {**event, "amount": -event["amount"]}, {**event, "kind": "gift"},
                  {"id": f"e{i}", "kind": "purchase", "amount": 5}][(i // 17) % 4]
        line = broken if isinstance(broken, str) else json.dumps(broken, separators=(",", ":"))
        events.append(line)
        expected.append(f"dead-letters:{line}")
        continue
    events.append(json.dumps(event, separators=(",", ":")))
    expected.append(f"events-{c['region']}:e{i},{c['customer']},{c['tier']},{event['kind']},{event['amount']}")

os.makedirs(folder, exist_ok=True)
def write(name, lines):
    with open(os.path.join(folder, name), "w") as f:
        f.write("\n".join(lines) + "\n")

write("customers.jsonl", [json.dumps(c, separators=(",", ":")) for c in customers])
write("events.jsonl", events)
write("expected.txt", expected)
print(f"{len(customers)} customers, {len(events)} events, {len(expected)} expected outputs in {folder}")

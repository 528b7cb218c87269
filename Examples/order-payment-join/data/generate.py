#!/usr/bin/env python3
"""Writes orders.jsonl, payments.jsonl and expected.txt for the order-payment join.

Usage: generate.py [ORDERS] [FOLDER]   (defaults: 2000 orders, this folder)

Orders come every 200 ms of event time. Payment rules: every 10th order (i % 10 == 3) is never
paid, every 10th (i % 10 == 7) is paid 8 s late (after the 5 s timeout: unpaid), every 10th
(i % 10 == 5) is paid 500 ms before its order's time, the rest 100 ms to 4.1 s after it.
Each file is in event-time order; four paid "tail" orders a minute later move every partition's
watermark past the last timeout. expected.txt lists the output as TOPIC:VALUE lines.
"""
import json, os, sys

count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
folder = sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(os.path.abspath(__file__))
timeout = 5000
orders, payments, expected = [], [], []
for i in range(count):
    order = {"order": f"o{i}", "amount": 100 + (i * 37) % 900, "time": 1_000_000 + i * 200}
    orders.append(order)
    if i % 10 == 3:
        expected.append(f"unpaid:o{i} unpaid {order['amount']}")
        continue
    delay = {7: timeout + 3000, 5: -500}.get(i % 10, 100 + (i * 131) % 4000)
    payments.append({"order": f"o{i}", "amount": order["amount"], "time": order["time"] + delay})
    if i % 10 == 7:
        expected.append(f"unpaid:o{i} unpaid {order['amount']}")
    else:
        expected.append(f"paid:o{i} paid {order['amount']} of {order['amount']}")
tail_time = 1_000_000 + count * 200 + 60_000
for k in range(4):
    orders.append({"order": f"tail{k}", "amount": 1, "time": tail_time + k})
    payments.append({"order": f"tail{k}", "amount": 1, "time": tail_time + k})
    expected.append(f"paid:tail{k} paid 1 of 1")
payments.sort(key=lambda p: p["time"])

os.makedirs(folder, exist_ok=True)

def write(name, lines):
    with open(os.path.join(folder, name), "w") as f:
        f.write("\n".join(lines) + "\n")

write("orders.jsonl", [json.dumps(o, separators=(",", ":")) for o in orders])
write("payments.jsonl", [json.dumps(p, separators=(",", ":")) for p in payments])
write("expected.txt", expected)
print(f"{len(orders)} orders, {len(payments)} payments, {len(expected)} expected outputs in {folder}")

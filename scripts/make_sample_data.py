#!/usr/bin/env python3
"""Generate the sample shop data set, ``data/shop.jsonl``, deterministically.

A single-table design with customers, products, orders and order lines (see
``data/README.md``). Only the standard library is used and the random seed is
fixed, so running this again writes a byte-identical file::

    python3 scripts/make_sample_data.py            # writes data/shop.jsonl
    python3 scripts/make_sample_data.py -o out.jsonl --seed 7

Money is written as JSON numbers with at most two decimals; load them with
``json.loads(line, parse_float=decimal.Decimal)`` to keep them exact.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sys

SEED = 20260301
N_CUSTOMERS = 300
N_PRODUCTS = 60
ORDERS_PER_CUSTOMER = (0, 8)        # uniform; c0001 (the demo's) has 9, see below
LINES_PER_ORDER = (1, 4)
FIRST_DAY = dt.date(2024, 1, 1)     # earliest customer sign-up
LAST_DAY = dt.date(2026, 6, 30)     # latest order date
OPEN_SINCE = dt.date(2026, 5, 15)   # orders on or after this day may still be open
# TTL: cancelled orders expire 30 days after the order day (all in the past
# relative to 2026-06-30 and later); a few open "cart" orders expire far ahead.
EXPIRE_AFTER_DAYS = 30
FAR_FUTURE = 4102444800             # 2100-01-01T00:00:00Z

FIRST_NAMES = ["Ada", "Alan", "Barbara", "Claude", "Dana", "Edsger", "Frances", "Grace",
               "Hedy", "Ivan", "Joan", "Ken", "Leslie", "Margaret", "Niklaus", "Olga",
               "Peter", "Radia", "Sophie", "Tim", "Ursula", "Vint", "Wendy", "Yukihiro"]
LAST_NAMES = ["Lovelace", "Turing", "Liskov", "Shannon", "Scott", "Dijkstra", "Allen",
              "Hopper", "Lamarr", "Sutherland", "Clarke", "Thompson", "Lamport",
              "Hamilton", "Wirth", "Taussky", "Naur", "Perlman", "Wilson", "Berners-Lee",
              "Franklin", "Cerf", "Hall", "Matsumoto"]
CITIES = ["Amsterdam", "Berlin", "Boston", "Dublin", "Kyoto", "Lisbon", "Lyon", "Madrid",
          "Oslo", "Porto", "Seattle", "Toronto", "Vienna", "Zurich"]
ADJECTIVES = ["Blue", "Compact", "Deluxe", "Eco", "Giant", "Heavy", "Mini", "Quiet",
              "Rapid", "Smart", "Solid", "Vintage"]
NOUNS = ["Kettle", "Lamp", "Mug", "Notebook", "Backpack", "Chair", "Desk", "Headphones",
         "Keyboard", "Pen", "Plant Pot", "Teapot", "Umbrella", "Water Bottle"]
CATEGORIES = {"Kettle": "kitchen", "Mug": "kitchen", "Teapot": "kitchen",
              "Water Bottle": "kitchen", "Lamp": "home", "Chair": "home", "Desk": "home",
              "Plant Pot": "home", "Umbrella": "home", "Notebook": "office", "Pen": "office",
              "Backpack": "office", "Headphones": "electronics", "Keyboard": "electronics"}


def money(cents: int) -> float:
    """Cents as a float with at most two decimals (repr is exact text)."""
    return round(cents / 100, 2)


def epoch(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp())


def random_day(rng: random.Random, first: dt.date, last: dt.date) -> dt.date:
    return first + dt.timedelta(days=rng.randint(0, (last - first).days))


def generate(seed: int = SEED) -> list:
    """Return every item of the data set, in file order."""
    rng = random.Random(seed)
    items: list = []

    # Products.
    products = []
    names_seen = set()
    for n in range(1, N_PRODUCTS + 1):
        while True:
            adj, noun = rng.choice(ADJECTIVES), rng.choice(NOUNS)
            if (adj, noun) not in names_seen:
                names_seen.add((adj, noun))
                break
        pid = f"p{n:03d}"
        price = rng.randint(199, 14999)
        products.append((pid, price))
        items.append({"PK": f"PRODUCT#{pid}", "SK": "PRODUCT", "type": "product",
                      "product_id": pid, "name": f"{adj} {noun}",
                      "category": CATEGORIES[noun], "price": money(price),
                      "stock": rng.randint(0, 500)})

    # Customers, then their orders (ids are assigned in date order afterwards).
    customers = []
    raw_orders = []  # (day, customer id, tie-break)
    for n in range(1, N_CUSTOMERS + 1):
        cid = f"c{n:04d}"
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        created = random_day(rng, FIRST_DAY, LAST_DAY - dt.timedelta(days=120))
        handle = f"{first}.{last}".lower().replace("-", "")
        customers.append({"PK": f"CUSTOMER#{cid}", "SK": "PROFILE", "type": "customer",
                          "customer_id": cid, "name": f"{first} {last}",
                          "email": f"{handle}.{n}@example.com", "city": rng.choice(CITIES),
                          "created": created.isoformat()})
        count = 9 if n == 1 else rng.randint(*ORDERS_PER_CUSTOMER)
        for _ in range(count):
            raw_orders.append((random_day(rng, created, LAST_DAY), cid, rng.random()))
    raw_orders.sort()

    orders_by_customer: dict = {c["customer_id"]: [] for c in customers}
    for number, (day, cid, _) in enumerate(raw_orders, start=1):
        oid = f"o{number:05d}"
        lines = []
        for ln in range(1, rng.randint(*LINES_PER_ORDER) + 1):
            pid, price = rng.choice(products)
            qty = rng.choice((1, 1, 1, 2, 2, 3, 5))
            lines.append({"PK": f"ORDER#{oid}", "SK": f"LINE#{ln:03d}", "type": "order_line",
                          "order_id": oid, "product": pid, "qty": qty, "price": money(price)})
        total = sum(line["qty"] * round(line["price"] * 100) for line in lines)
        roll = rng.random()
        if roll < 0.08:
            status = "cancelled"
        elif day >= OPEN_SINCE and roll < 0.75:
            status = "open"
        else:
            status = "shipped"
        if cid == "c0001":  # the demo's customer: a fixed mix of statuses
            position = len(orders_by_customer[cid])
            status = {3: "cancelled", 7: "open", 8: "open"}.get(position, "shipped")
        order = {"PK": f"CUSTOMER#{cid}", "SK": f"ORDER#{day.isoformat()}#{oid}",
                 "type": "order", "order_id": oid, "customer_id": cid,
                 "date": day.isoformat(), "status": status, "total": money(total),
                 "item_count": sum(line["qty"] for line in lines)}
        if status == "cancelled":
            order["expires"] = epoch(day + dt.timedelta(days=EXPIRE_AFTER_DAYS))
        elif status == "open" and roll < 0.15:
            order["expires"] = FAR_FUTURE
        orders_by_customer[cid].append((order, lines))

    for customer in customers:
        items.append(customer)
        for order, _ in orders_by_customer[customer["customer_id"]]:
            items.append(order)
    for customer in customers:
        for _, lines in orders_by_customer[customer["customer_id"]]:
            items.extend(lines)
    return items


def main(argv=None) -> int:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default=os.path.join(root, "data", "shop.jsonl"))
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    items = generate(args.seed)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    tmp = args.output + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.writelines(json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n" for item in items)
    os.replace(tmp, args.output)
    kinds: dict = {}
    for item in items:
        kinds[item["type"]] = kinds.get(item["type"], 0) + 1
    summary = ", ".join(f"{v} {k}s" for k, v in kinds.items())
    print(f"wrote {len(items)} items ({summary}), {os.path.getsize(args.output)} bytes "
          f"to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

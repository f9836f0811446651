#!/usr/bin/env python3
"""bench/eviction_sim.py: the reference simulation behind bench/eviction.

  eviction_sim.py trace --alpha A --keys N --length L [--scan-every S --scan-length K] [--seed X]
      writes a trace, one key number a line, to stdout: L requests drawn from a Zipf(A)
      distribution over keys 1..N; with --scan-every, after every S Zipf requests comes a
      scan of K keys never requested before or after (numbered above N).
  eviction_sim.py simulate --policy lru|sieve --size C TRACE
      replays TRACE as bench/eviction replays it through cachext (cache_get, and
      cache_set on a miss) against a cache of C entries, and prints "requests misses".

The policies are written from their papers, not from src/l1.c: LRU evicts the least
recently used entry; SIEVE (Zhang et al., NSDI'24) keeps entries in insertion order
with a visited bit, and a hand that walks from the tail to the head (wrapping), clears
visited bits and evicts the first entry without one, then stays there.
"""
import argparse
import bisect
import collections
import random
import sys


def zipf_cdf(alpha, n):
    weights = [1.0 / (k ** alpha) for k in range(1, n + 1)]
    total = sum(weights)
    cdf, acc = [], 0.0
    for w in weights:
        acc += w / total
        cdf.append(acc)
    cdf[-1] = 1.0
    return cdf


def trace(args):
    rng = random.Random(args.seed)
    cdf = zipf_cdf(args.alpha, args.keys)
    # Zipf ranks are shuffled over the key numbers, so that hot keys are not
    # also the lowest numbers
    perm = list(range(1, args.keys + 1))
    rng.shuffle(perm)
    out = sys.stdout
    next_scan_key = args.keys + 1
    since_scan = 0
    lines = []
    for _ in range(args.length):
        lines.append(perm[bisect.bisect_left(cdf, rng.random())])
        since_scan += 1
        if args.scan_every and since_scan == args.scan_every:
            lines.extend(range(next_scan_key, next_scan_key + args.scan_length))
            next_scan_key += args.scan_length
            since_scan = 0
    out.write("\n".join(map(str, lines)))
    out.write("\n")


def simulate_lru(keys, size):
    cache = collections.OrderedDict()
    misses = 0
    for k in keys:
        if k in cache:
            cache.move_to_end(k)
            continue
        misses += 1
        if len(cache) >= size:
            cache.popitem(last=False)
        cache[k] = True
    return misses


def simulate_sieve(keys, size):
    # a doubly linked list, head = newest insert; newer[k] points headwards
    newer, older, visited = {}, {}, {}
    head = tail = hand = None
    misses = 0
    for k in keys:
        if k in visited:
            visited[k] = True
            continue
        misses += 1
        if len(visited) >= size:
            o = hand if hand is not None else tail
            while visited[o]:
                visited[o] = False
                o = newer[o] if newer[o] is not None else tail
            hand = newer[o]
            n, p = newer.pop(o), older.pop(o)
            del visited[o]
            if n is not None:
                older[n] = p
            else:
                head = p
            if p is not None:
                newer[p] = n
            else:
                tail = n
        visited[k] = False
        newer[k], older[k] = None, head
        if head is not None:
            newer[head] = k
        head = k
        if tail is None:
            tail = k
    return misses


def simulate(args):
    with open(args.trace) as f:
        keys = [int(line) for line in f]
    fn = simulate_sieve if args.policy == "sieve" else simulate_lru
    print(len(keys), fn(keys, args.size))


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("trace")
    t.add_argument("--alpha", type=float, required=True)
    t.add_argument("--keys", type=int, required=True)
    t.add_argument("--length", type=int, required=True)
    t.add_argument("--scan-every", type=int, default=0)
    t.add_argument("--scan-length", type=int, default=0)
    t.add_argument("--seed", type=int, default=1)
    s = sub.add_parser("simulate")
    s.add_argument("--policy", choices=["lru", "sieve"], required=True)
    s.add_argument("--size", type=int, required=True)
    s.add_argument("trace")
    args = parser.parse_args()
    trace(args) if args.command == "trace" else simulate(args)


if __name__ == "__main__":
    main()

"""Build an autofaiss index in autofaiss's own virtual environment (numpy < 2, pyarrow < 18).

Run by bench/search.py as a subprocess; it reads the vectors from an .npy folder, lets
autofaiss choose, train and tune its index under the same memory budget, and writes the index
plus a JSON summary (index key, search parameters, build time). Evaluation happens back in the
bench process, with the same queries and thread count as Atelier's index.
"""
import argparse
import json
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--embeddings", required=True, help="folder of .npy files")
    parser.add_argument("--index", required=True)
    parser.add_argument("--summary", required=True)
    parser.add_argument("--budget", required=True, help='e.g. "4096M"')
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--query-ms", type=float, default=10.0, help="autofaiss's latency target")
    args = parser.parse_args()

    from autofaiss import build_index

    started = time.perf_counter()
    _, infos = build_index(
        embeddings=args.embeddings, index_path=args.index,
        index_infos_path=args.summary + ".infos.json", max_index_memory_usage=args.budget,
        current_memory_available="8G", metric_type="ip", nb_cores=args.cores,
        max_index_query_time_ms=args.query_ms, save_on_disk=True, verbose=30,
    )
    build_s = time.perf_counter() - started
    with open(args.summary, "w") as f:
        json.dump({"build_s": build_s, **(infos or {})}, f)


if __name__ == "__main__":
    main()

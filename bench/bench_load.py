"""The studio under load through its public API, as scripted visitors of a Space would use it.

    python -m bench.bench_load [--clients 20] [--requests 10] [--idle 200] [--holding 20]
                               [--analysed 300] [--expiring 100] [--lifetime 60]

Side by side in one run, against ``python -m app`` served in a child process as a Space runs it
(the RSS figures are that process's alone; the clients are threads of gradio_client here):
- one client's median latency of (load a sample, analyse, show), then ``clients`` clients doing
  ``requests`` of those at once: failures, wrong frames (a reply whose status names another
  sample than the one the client loaded), p50 / p95 latency, peak RSS; target p95 <= 1.5 x
  (clients / heavy concurrency) x the single-client median; what one new frame's visit adds
  to Gradio's cache, which sizes its sweep;
- ``idle`` sessions that only load a sample: RSS growth (target <= 200 MB);
- ``holding`` sessions that each hold the largest accepted upload: RSS growth (target <= 300 MB);
- ``analysed`` sessions that each hold a 2048-px upload and its analysis: RSS growth (target
  <= +1.5 GB); then, on a studio whose session lifetime is shortened to ``lifetime`` seconds,
  ``expiring`` such sessions and their lifetime passing: RSS back within 150 MB of where it started.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from gradio_client import Client, handle_file

from app.studio import HEAVY_CONCURRENCY
from bench.bench_browser import upload_images, write_upload
from bench.servers import PeakRSS, rss_bytes, studio
from core import inference
from core.settings import SESSION_TTL_ENV
from core.data.imageio import write_png

IDLE_TARGET_MB = 200
HOLDING_TARGET_MB = 300
ANALYSED_TARGET_MB = 1536
RETURNED_TARGET_MB = 150
# A 2048-px trio in the rig's aspects (RGB 1224 x 384, thermal 640 x 256): what a session keeps at most.
UPLOAD_2048 = {"rgb": (642, 2048), "thr": (819, 2048)}
P95_FACTOR = 1.5
SINGLE_VISITS = 5    # after one warm-up visit


def rss_mb(pid: int) -> float:
    return rss_bytes(pid) / 2**20


def one_visit(client: Client, sample: str) -> tuple[float, bool]:
    """(seconds for load + analyse + show, whether the analysis is of this client's sample)."""
    start = time.perf_counter()
    client.predict(sample, api_name="/load_sample")
    outputs = client.predict(inference.DEFAULT_CHECKPOINT, "Both", "RGB", "none", 0.5, api_name="/analyse")
    client.predict("Fused", False, False, 0, 80, api_name="/show")
    status = outputs[4]
    return time.perf_counter() - start, sample.split("·")[-1].strip() in status


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--idle", type=int, default=200)
    parser.add_argument("--holding", type=int, default=20)
    parser.add_argument("--analysed", type=int, default=300)
    parser.add_argument("--expiring", type=int, default=100)
    parser.add_argument("--lifetime", type=float, default=60.0, help="the expiring sessions' lifetime [s]")
    args = parser.parse_args(argv)
    samples = [s.name for s in inference.list_samples()]
    with tempfile.TemporaryDirectory() as cache, studio({"GRADIO_TEMP_DIR": cache}) as (url, pid):
        warm = Client(url, verbose=False, download_files=False)
        one_visit(warm, samples[0])
        single = statistics.median(one_visit(warm, samples[i % len(samples)])[0] for i in range(SINGLE_VISITS))
        distinct = min(SINGLE_VISITS, len(samples))   # the cache stores files by content: one set per frame
        cache_per_frame = sum(f.stat().st_size for f in Path(cache).rglob("*") if f.is_file()) / 2**20 / distinct

        def client_run(index: int) -> list[tuple[float, bool, bool]]:
            client = Client(url, verbose=False, download_files=False)
            results = []
            for request in range(args.requests):
                sample = samples[(index + request) % len(samples)]
                try:
                    seconds, right = one_visit(client, sample)
                    results.append((seconds, right, True))
                except Exception:   # noqa: BLE001 - a failed request is what is counted here
                    results.append((0.0, False, False))
            return results

        with PeakRSS(pid, interval=0.02) as peak, ThreadPoolExecutor(args.clients) as pool:
            runs = [r for rs in pool.map(client_run, range(args.clients)) for r in rs]
        ok = [seconds for seconds, _, success in runs if success]
        failures = sum(not success for _, _, success in runs)
        wrong = sum(success and not right for _, right, success in runs)
        p50 = statistics.median(ok) if ok else float("nan")
        p95 = float(np.percentile(ok, 95)) if ok else float("nan")
        bound = P95_FACTOR * args.clients / HEAVY_CONCURRENCY * single
        print(f"studio under load: {args.clients} clients x {args.requests} visits (load sample, analyse, show)")
        print(f"single client median        {single:7.3f} s")
        print(f"failures                    {failures:7d}    target 0: {'met' if failures == 0 else 'NOT met'}")
        print(f"wrong frames                {wrong:7d}    target 0: {'met' if wrong == 0 else 'NOT met'}")
        print(f"p50                         {p50:7.3f} s")
        print(f"p95                         {p95:7.3f} s  target <= {bound:.2f} s "
              f"(1.5 x {args.clients} / {HEAVY_CONCURRENCY} x single): {'met' if p95 <= bound else 'NOT met'}")
        print(f"peak server RSS             {peak.peak / 2**20:7.0f} MB")
        print(f"Gradio cache per new frame  {cache_per_frame:7.2f} MB  (panels of one analysis, as the API returns them)")

        before = rss_mb(pid)
        idle = [Client(url, verbose=False, download_files=False) for _ in range(args.idle)]
        for index, client in enumerate(idle):
            client.predict(samples[index % len(samples)], api_name="/load_sample")
        grown = rss_mb(pid) - before
        print(f"{args.idle} idle sessions          {grown:+7.0f} MB  target <= +{IDLE_TARGET_MB} MB: "
              f"{'met' if grown <= IDLE_TARGET_MB else 'NOT met'}")
        with tempfile.TemporaryDirectory() as folder:
            paths = write_upload(Path(folder), seed=0)
            rgb, thr = handle_file(str(paths["rgb"])), handle_file(str(paths["thr"]))

            def hold_upload() -> None:
                Client(url, verbose=False, download_files=False).predict(rgb, None, thr, api_name="/decode_upload")

            hold_upload()   # the decode path warmed up, and the heap the load run freed given back first
            before = rss_mb(pid)
            for _ in range(args.holding):
                hold_upload()
            grown = rss_mb(pid) - before
        print(f"{args.holding} sessions holding the largest upload {grown:+7.0f} MB  target <= +{HOLDING_TARGET_MB} MB: "
              f"{'met' if grown <= HOLDING_TARGET_MB else 'NOT met'}")
        _, grown = analysed_sessions(url, pid, args.analysed)
        print(f"{args.analysed} sessions holding a 2048-px upload and its analysis {grown:+7.0f} MB  "
              f"target <= +{ANALYSED_TARGET_MB} MB: {'met' if grown <= ANALYSED_TARGET_MB else 'NOT met'}")
    with tempfile.TemporaryDirectory() as cache, \
            studio({"GRADIO_TEMP_DIR": cache, SESSION_TTL_ENV: str(args.lifetime)}) as (url, pid):
        start, grown = analysed_sessions(url, pid, args.expiring)
        time.sleep(args.lifetime + 5)   # Gradio deletes expired state every second; the files go with it
        back = rss_mb(pid) - start
        print(f"{args.expiring} such sessions, {args.lifetime:.0f} s lifetime: {grown:+7.0f} MB held, "
              f"{back:+7.0f} MB after it passed  target <= +{RETURNED_TARGET_MB} MB: "
              f"{'met' if back <= RETURNED_TARGET_MB else 'NOT met'}")


def analysed_sessions(url: str, pid: int, count: int) -> tuple[float, float]:
    """``count`` sessions that each upload a 2048-px trio (a different one each) and analyse it
    with the default model, kept open: the server's RSS after a warm-up session (the model loaded)
    and its growth over that, in MB."""
    with tempfile.TemporaryDirectory() as folder:
        def visit(seed: int) -> Client:
            paths = {}
            for spectrum, image in upload_images(seed, UPLOAD_2048).items():
                paths[spectrum] = Path(folder) / f"{seed}_{spectrum}.png"
                write_png(paths[spectrum], image)
            client = Client(url, verbose=False, download_files=False)
            client.predict(handle_file(str(paths["rgb"])), None, handle_file(str(paths["thr"])),
                           api_name="/decode_upload")
            client.predict(inference.DEFAULT_CHECKPOINT, "Both", "RGB", "none", 0.5, api_name="/analyse")
            for path in paths.values():
                path.unlink()
            return client

        visit(count + 1)   # the model loaded and the decode path warmed before the baseline
        before = rss_mb(pid)
        clients = [visit(seed) for seed in range(count)]
        grown = rss_mb(pid) - before
        del clients
        return before, grown


if __name__ == "__main__":
    main()

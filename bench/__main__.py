"""`python -m bench`: every benchmark, one after another, each printing its own table."""
from bench import (bench_align_fuse, bench_click_to_result, bench_msynth, bench_pointcloud,
                   bench_teacher_student)

for bench in (bench_msynth, bench_pointcloud, bench_align_fuse, bench_teacher_student, bench_click_to_result):
    print(f"\n=== {bench.__name__} ===", flush=True)
    bench.main()

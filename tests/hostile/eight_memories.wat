;; A component whose one core module has eight linear memories and fills each to 64 MiB
;; in its start function: 512 MiB in all. A cap per memory (wasmtime's StoreLimits) lets
;; each through; the host's budget for the whole store stops it at `limits.memory_mb`.
(component
  (core module $m
    (memory $m0 1)
    (memory $m1 1)
    (memory $m2 1)
    (memory $m3 1)
    (memory $m4 1)
    (memory $m5 1)
    (memory $m6 1)
    (memory $m7 1)
    (func $start
      ;; memory 0: grow to 64 MiB and touch every byte
      (drop (memory.grow $m0 (i32.const 1023)))
      (memory.fill $m0 (i32.const 0) (i32.const 1) (i32.const 67108864))
      ;; memory 1: grow to 64 MiB and touch every byte
      (drop (memory.grow $m1 (i32.const 1023)))
      (memory.fill $m1 (i32.const 0) (i32.const 1) (i32.const 67108864))
      ;; memory 2: grow to 64 MiB and touch every byte
      (drop (memory.grow $m2 (i32.const 1023)))
      (memory.fill $m2 (i32.const 0) (i32.const 1) (i32.const 67108864))
      ;; memory 3: grow to 64 MiB and touch every byte
      (drop (memory.grow $m3 (i32.const 1023)))
      (memory.fill $m3 (i32.const 0) (i32.const 1) (i32.const 67108864))
      ;; memory 4: grow to 64 MiB and touch every byte
      (drop (memory.grow $m4 (i32.const 1023)))
      (memory.fill $m4 (i32.const 0) (i32.const 1) (i32.const 67108864))
      ;; memory 5: grow to 64 MiB and touch every byte
      (drop (memory.grow $m5 (i32.const 1023)))
      (memory.fill $m5 (i32.const 0) (i32.const 1) (i32.const 67108864))
      ;; memory 6: grow to 64 MiB and touch every byte
      (drop (memory.grow $m6 (i32.const 1023)))
      (memory.fill $m6 (i32.const 0) (i32.const 1) (i32.const 67108864))
      ;; memory 7: grow to 64 MiB and touch every byte
      (drop (memory.grow $m7 (i32.const 1023)))
      (memory.fill $m7 (i32.const 0) (i32.const 1) (i32.const 67108864))
    )
    (start $start))
  (core instance (instantiate $m)))

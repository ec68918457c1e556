;; A component whose start function grows a table by 2^28 elements (2 GiB of function
;; references at 8 bytes each). Tables count against the store's memory budget.
(component
  (core module $m
    (table $t 1 funcref)
    (func $start
      (drop (table.grow $t (ref.null func) (i32.const 268435456))))
    (start $start))
  (core instance (instantiate $m)))

;; NUL-byte compaction kernel, 16 bytes per step with WebAssembly SIMD.
;;
;; Memory (imported, owned by JavaScript) starts with two shuffle tables, filled by JavaScript.
;; Each 16-byte block splits into a low and a high group of 8 bytes; m_lo and m_hi are their NUL
;; masks (bit i set: byte i is a NUL) and k_lo is the number of bytes the low group keeps.
;;   [0, 4096)      table A, entry m_lo: the positions (0-7) of the low group's kept bytes, in
;;                  lanes 0 .. k_lo-1; 0x80 in the other lanes.
;;   [4096, 40960)  table B, entry 9 * m_hi + k_lo: the positions (8-15) of the high group's kept
;;                  bytes, in lanes k_lo .. k_lo+k_hi-1; 0x80 in the other lanes.
;; The unsigned minimum of the two entries is one swizzle pattern that packs all kept bytes of the
;; block to its front (valid positions are below 0x80; 0x80 lanes swizzle to 0 and are junk that
;; the next store overwrites). The data chunk lives above the tables.
;;
;; Both functions work on [from, end) and take `carry` = 1 when the byte just before `from`
;; was a NUL (so a run crossing the boundary is counted once). They leave the number of NUL
;; runs that start in [from, end) in the global `runs`. Addresses are below 2^31.
(module
  (import "env" "memory" (memory 1))
  (global $runs (export "runs") (mut i32) (i32.const 0))

  ;; Writes the non-NUL bytes of [from, end), in order, from `write` on (write <= from); returns
  ;; the end of the kept bytes. Every store lands at or below the block being read and never past
  ;; its end, so compaction in place never overwrites a byte before it is read. Bytes between the
  ;; returned end and `end` are left undefined (the 8-byte group stores overshoot).
  (func (export "strip") (param $r i32) (param $end i32) (param $w i32) (param $carry i32) (result i32)
    (local $m i32) (local $lo i32) (local $hi i32) (local $v v128)
    (local $runs i32) (local $stop i32)
    (local.set $stop (i32.sub (local.get $end) (i32.const 16)))
    (block $vector_done
      (loop $vector
        (br_if $vector_done (i32.gt_s (local.get $r) (local.get $stop)))
        (local.set $v (v128.load (local.get $r)))
        (local.set $m (i8x16.bitmask (i8x16.eq (local.get $v) (v128.const i64x2 0 0))))
        (if (i32.eqz (local.get $m))
          (then
            ;; No NUL in these 16 bytes: move them as a whole.
            (v128.store (local.get $w) (local.get $v))
            (local.set $w (i32.add (local.get $w) (i32.const 16)))
            (local.set $carry (i32.const 0)))
          (else
            ;; A run starts at each NUL whose predecessor is not a NUL.
            (local.set $runs
              (i32.add (local.get $runs)
                (i32.popcnt
                  (i32.and (local.get $m)
                    (i32.xor (i32.or (i32.shl (local.get $m) (i32.const 1)) (local.get $carry))
                             (i32.const -1))))))
            (local.set $carry (i32.shr_u (local.get $m) (i32.const 15)))
            (if (i32.ne (local.get $m) (i32.const 0xffff))
              (then
                (local.set $lo (i32.and (local.get $m) (i32.const 0xff)))
                (local.set $hi (i32.shr_u (local.get $m) (i32.const 8)))
                (v128.store (local.get $w)
                  (i8x16.swizzle (local.get $v)
                    (i8x16.min_u
                      (v128.load (i32.shl (local.get $lo) (i32.const 4)))
                      (v128.load offset=4096
                        (i32.shl
                          (i32.add (i32.mul (local.get $hi) (i32.const 9))
                                   (i32.sub (i32.const 8) (i32.popcnt (local.get $lo))))
                          (i32.const 4))))))
                (local.set $w
                  (i32.sub (i32.add (local.get $w) (i32.const 16)) (i32.popcnt (local.get $m))))))))
        (local.set $r (i32.add (local.get $r) (i32.const 16)))
        (br $vector)))
    ;; The last 0-15 bytes, one at a time.
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $r) (local.get $end)))
        (local.set $m (i32.load8_u (local.get $r)))
        (if (local.get $m)
          (then
            (i32.store8 (local.get $w) (local.get $m))
            (local.set $w (i32.add (local.get $w) (i32.const 1)))
            (local.set $carry (i32.const 0)))
          (else
            (if (i32.eqz (local.get $carry))
              (then (local.set $runs (i32.add (local.get $runs) (i32.const 1)))))
            (local.set $carry (i32.const 1))))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $tail)))
    (global.set $runs (local.get $runs))
    (local.get $w))

  ;; Counts the NUL bytes of [from, end) (returned) and their runs (in `runs`); writes nothing.
  (func (export "count") (param $r i32) (param $end i32) (param $carry i32) (result i32)
    (local $m i32) (local $zeros i32) (local $runs i32) (local $stop i32)
    (local.set $stop (i32.sub (local.get $end) (i32.const 16)))
    (block $vector_done
      (loop $vector
        (br_if $vector_done (i32.gt_s (local.get $r) (local.get $stop)))
        (local.set $m
          (i8x16.bitmask (i8x16.eq (v128.load (local.get $r)) (v128.const i64x2 0 0))))
        (if (local.get $m)
          (then
            (local.set $zeros (i32.add (local.get $zeros) (i32.popcnt (local.get $m))))
            (local.set $runs
              (i32.add (local.get $runs)
                (i32.popcnt
                  (i32.and (local.get $m)
                    (i32.xor (i32.or (i32.shl (local.get $m) (i32.const 1)) (local.get $carry))
                             (i32.const -1))))))
            (local.set $carry (i32.shr_u (local.get $m) (i32.const 15))))
          (else (local.set $carry (i32.const 0))))
        (local.set $r (i32.add (local.get $r) (i32.const 16)))
        (br $vector)))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $r) (local.get $end)))
        (if (i32.load8_u (local.get $r))
          (then (local.set $carry (i32.const 0)))
          (else
            (local.set $zeros (i32.add (local.get $zeros) (i32.const 1)))
            (if (i32.eqz (local.get $carry))
              (then (local.set $runs (i32.add (local.get $runs) (i32.const 1)))))
            (local.set $carry (i32.const 1))))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $tail)))
    (global.set $runs (local.get $runs))
    (local.get $zeros)))

"""Hints to LLVM for numba kernels on hot paths: facts it cannot see, loads to start early.

Neither changes what a kernel computes; both are numba intrinsics that compile
to one LLVM intrinsic call and no other code:

* :func:`assume` (``llvm.assume``): a condition the caller guarantees, e.g.
  the width of an array the caller allocated, or that a row index read from
  a consistent pool is not negative. LLVM then drops the code the fact makes
  dead: the negative-index wraparound numba emits for every signed index and
  the multiply by an array width loaded from memory (a shift when the width
  is a known power of two). A false condition is undefined behaviour: assume
  only invariants of the caller's own data structures.
* :func:`prefetch` (``llvm.prefetch``): start loading the cache line of
  ``arr[i]`` (its first element). A hint only: it never faults, and the
  callers keep ``i`` inside the array.

Kernels that use them inline their code, so this module is part of the numba
cache stamp (:func:`kernel.jit.source_stamp`).
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

_I1 = ir.IntType(1)
_I32 = ir.IntType(32)
_I64 = ir.IntType(64)
_I8P = ir.PointerType(ir.IntType(8))


@intrinsic
def assume(typingctx, cond):
    """Promise LLVM that ``cond`` is true here (no code, no check)."""
    sig = types.void(types.boolean)

    def codegen(context, builder, signature, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [_I1]), "llvm.assume")
        c = args[0]
        if c.type != _I1:
            c = builder.icmp_unsigned("!=", c, ir.Constant(c.type, 0))
        builder.call(fn, [c])
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def prefetch(typingctx, arr, i):
    """Start loading ``arr[i]`` (the first element of row ``i``) into every cache level, for reading."""
    sig = types.void(arr, i)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        index = [args[1]] + [ir.Constant(_I64, 0)] * (aryty.ndim - 1)
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, index, wraparound=False, boundscheck=False)
        fnty = ir.FunctionType(ir.VoidType(), [_I8P, _I32, _I32, _I32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        # read (0), keep in all cache levels (3), data cache (1)
        builder.call(fn, [builder.bitcast(ptr, _I8P), ir.Constant(_I32, 0), ir.Constant(_I32, 3), ir.Constant(_I32, 1)])
        return context.get_dummy_value()

    return sig, codegen

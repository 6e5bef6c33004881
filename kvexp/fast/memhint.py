"""A CPU cache prefetch hint for the kernels (numba intrinsic over ``llvm.prefetch``).

The trace is known in advance, so the loop asks the CPU to start loading the state of pages a
few rows ahead (and the Markov table slot they will update) while it works on the current
row; the random loads that dominate a row then mostly hit the cache. A hint has no effect on
results: it loads nothing into a register and never faults.
"""
from __future__ import annotations

from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

FAR_PAGES = 1 << 14  # pages from which a policy's rows (64 bytes each: 1 MiB, a core's L2 here) miss the cache


@intrinsic
def prefetch_hint(typingctx, array, index):
    """Hint that ``array[index]`` (a 1-d or the first axis of a 2-d array) will be read soon."""
    if not isinstance(array, types.Array) or not isinstance(index, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        idx = context.cast(builder, args[1], signature.args[1], types.intp)
        indices = [idx] + [context.get_constant(types.intp, 0)] * (aryty.ndim - 1)
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, indices, wraparound=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        # declared the way numba declares llvm.memset, so the name mangling follows llvmlite
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = builder.module.declare_intrinsic("llvm.prefetch", [i8p], fnty)
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])  # read, keep in all levels, data
        return context.get_dummy_value()

    return types.void(array, index), codegen

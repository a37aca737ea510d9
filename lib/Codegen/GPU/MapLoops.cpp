//===- MapLoops.cpp - qat-gpu-map-loops -----------------------------------===//
//
// Part of qat-mlir. Every linalg op of a bufferized function becomes one
// grid of GPU threads: its parallel iterations are flattened into one index,
// split into blocks of `threadsPerBlock` threads (one thread per output
// element), and its reductions stay sequential inside the thread. The result
// is a nest of scf.parallel loops annotated with block and thread
// dimensions, which runs on the CPU as it is and becomes gpu.launch under
// convert-parallel-loops-to-gpu.
//
//===----------------------------------------------------------------------===//

#include "qat/Codegen/GPU/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/Transforms/ParallelLoopMapper.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::qat {
#define GEN_PASS_DEF_GPUMAPLOOPS
#include "qat/Codegen/GPU/Passes.h.inc"
} // namespace mlir::qat

using namespace mlir;
using namespace mlir::qat;

namespace {

Value index(ImplicitLocOpBuilder &b, int64_t value) {
  return arith::ConstantIndexOp::create(b, value);
}

gpu::ParallelLoopDimMappingAttr mappingTo(MLIRContext *context,
                                          gpu::Processor processor) {
  AffineMap identity = AffineMap::getMultiDimIdentityMap(1, context);
  return gpu::ParallelLoopDimMappingAttr::get(context, processor, identity,
                                              identity);
}

/// Replaces `loop` (no reductions) by a grid: an scf.parallel over blocks
/// around an scf.parallel over `threadsPerBlock` threads, each thread
/// running the iteration its flat index names (when it names one).
LogicalResult mapToGrid(scf::ParallelOp loop, int64_t threadsPerBlock) {
  if (loop.getNumResults() != 0)
    return loop.emitOpError("has reductions; qat-gpu-map-loops maps only "
                            "loops without results");
  ImplicitLocOpBuilder b(loop.getLoc(), loop);
  // Iterations per dimension and in all.
  SmallVector<Value> counts;
  Value total = index(b, 1);
  for (auto [lb, ub, step] : llvm::zip(loop.getLowerBound(),
                                       loop.getUpperBound(), loop.getStep())) {
    Value extent = arith::SubIOp::create(b, ub, lb);
    Value count = arith::CeilDivUIOp::create(b, extent, step);
    counts.push_back(count);
    total = arith::MulIOp::create(b, total, count);
  }
  Value threads = index(b, threadsPerBlock);
  Value blocks = arith::CeilDivUIOp::create(b, total, threads);
  Value zero = index(b, 0), one = index(b, 1);

  auto grid = scf::ParallelOp::create(b, zero, blocks, one);
  b.setInsertionPointToStart(grid.getBody());
  auto block = scf::ParallelOp::create(b, zero, threads, one);
  MLIRContext *context = b.getContext();
  if (failed(gpu::setMappingAttr(
          grid, {mappingTo(context, gpu::Processor::BlockX)})) ||
      failed(gpu::setMappingAttr(
          block, {mappingTo(context, gpu::Processor::ThreadX)})))
    return failure();

  b.setInsertionPointToStart(block.getBody());
  Value id = arith::AddIOp::create(
      b, arith::MulIOp::create(b, grid.getInductionVars()[0], threads),
      block.getInductionVars()[0]);
  Value inside =
      arith::CmpIOp::create(b, arith::CmpIPredicate::ult, id, total);
  auto guard = scf::IfOp::create(b, inside, /*withElseRegion=*/false);
  b.setInsertionPointToStart(&guard.getThenRegion().front());
  // The flat index back to the loop's induction variables, last dimension
  // fastest (neighbouring threads touch neighbouring elements).
  IRMapping mapping;
  Value rest = id;
  for (int64_t d = loop.getNumLoops() - 1; d >= 0; --d) {
    Value position = d == 0 ? rest : arith::RemUIOp::create(b, rest, counts[d]);
    if (d > 0)
      rest = arith::DivUIOp::create(b, rest, counts[d]);
    Value iv = arith::AddIOp::create(
        b, loop.getLowerBound()[d],
        arith::MulIOp::create(b, position, loop.getStep()[d]));
    mapping.map(loop.getInductionVars()[d], iv);
  }
  for (Operation &op : loop.getBody()->without_terminator())
    b.clone(op, mapping);
  loop.erase();
  return success();
}

} // namespace

LogicalResult mlir::qat::mapLinalgToGpuThreads(func::FuncOp func,
                                               int64_t threadsPerBlock) {
  if (threadsPerBlock < 1 || threadsPerBlock > 1024)
    return func.emitOpError("qat-gpu-map-loops: threads per block must be "
                            "in [1, 1024], got ")
           << threadsPerBlock;
  SmallVector<linalg::LinalgOp> ops;
  func.walk([&](linalg::LinalgOp op) {
    if (op.hasPureBufferSemantics())
      ops.push_back(op);
  });
  IRRewriter rewriter(func.getContext());
  for (linalg::LinalgOp op : ops) {
    // An op without parallel dimensions (a full reduction, a 0-D update)
    // runs as one thread: a one-iteration loop to map.
    if (op.getNumParallelLoops() == 0) {
      ImplicitLocOpBuilder b(op.getLoc(), op);
      auto single = scf::ParallelOp::create(b, index(b, 0), index(b, 1),
                                            index(b, 1));
      op->moveBefore(single.getBody()->getTerminator());
    }
    rewriter.setInsertionPoint(op);
    FailureOr<linalg::LinalgLoops> loops =
        linalg::linalgOpToParallelLoops(rewriter, op);
    if (failed(loops))
      return op->emitOpError("could not be lowered to loops for the GPU");
    rewriter.eraseOp(op);
  }
  // Every outermost parallel loop becomes a grid.
  SmallVector<scf::ParallelOp> outermost;
  func.walk([&](scf::ParallelOp loop) {
    if (!loop->getParentOfType<scf::ParallelOp>() &&
        !loop->hasAttr(gpu::getMappingAttrName()))
      outermost.push_back(loop);
  });
  for (scf::ParallelOp loop : outermost)
    if (failed(mapToGrid(loop, threadsPerBlock)))
      return failure();
  return success();
}

namespace {

struct GpuMapLoopsPass
    : public qat::impl::GpuMapLoopsBase<GpuMapLoopsPass> {
  using Base::Base;
  void runOnOperation() override {
    if (failed(mapLinalgToGpuThreads(getOperation(), threadsPerBlock)))
      signalPassFailure();
  }
};

} // namespace

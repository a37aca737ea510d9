//===- TensorCoreMatmul.cpp - qat-gpu-tensor-core-matmul ------------------===//
//
// Part of qat-mlir. Int8 matmuls on the GPU's integer units: mma.sync
// m16n8k32 on tensor cores over tiles staged in shared memory, or dp4a for
// matmuls of fewer than 16 rows, with the elementwise consumer of the
// accumulator (requantization) run on the registers as the epilogue.
//
// The fragment layouts are those of the PTX ISA for mma.m16n8k32 with .s8
// operands (the ones MLIR's nvgpu MMAUtils computes). With g = lane / 4 and
// t = lane % 4, a thread holds
//   A (16x32, row major): words (g, t), (g+8, t), (g, t+4), (g+8, t+4),
//                         word w of a row being its bytes 4w .. 4w+3;
//   B (32x8, column major): words (column g, t), (column g, t+4);
//   C (16x8, int32): (g, 2t), (g, 2t+1), (g+8, 2t), (g+8, 2t+1);
// with byte i of a word its bits 8i .. 8i+7.
//
//===----------------------------------------------------------------------===//

#include "qat/Codegen/GPU/Passes.h"

#include "Buffers.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"

namespace mlir::qat {
#define GEN_PASS_DEF_GPUTENSORCOREMATMUL
#include "qat/Codegen/GPU/Passes.h.inc"
} // namespace mlir::qat

using namespace mlir;
using namespace mlir::qat;

namespace {

// Blocks of 4 warps compute 64x64 tiles of the result, each warp a 32x32
// quarter of it as 2x4 mma tiles of 16x8, 32 steps of the reduction at a
// time. Shared tiles hold 4 bytes per i32 word; a row of 8 words is padded
// to 12 so that the 32 lanes of a fragment load read 32 different banks.
constexpr int64_t kTileM = 64, kTileN = 64, kTileK = 32;
constexpr int64_t kWarpSize = 32, kThreads = 4 * kWarpSize;
constexpr int64_t kWarpM = 32, kWarpN = 32, kMmaM = 16, kMmaN = 8;
constexpr int64_t kMmaTilesM = kWarpM / kMmaM, kMmaTilesN = kWarpN / kMmaN;
constexpr int64_t kRowWords = 12;
constexpr int64_t kDp4aThreads = 256;

/// One int8 matmul to replace: C (+)= A x B, then the epilogue (if any),
/// which reads C element for element and is the only reader of C after.
/// When C's initial value comes from a fill or a bias broadcast along the
/// rows, `init` is that op, and the kernel computes the value itself.
struct Int8Matmul {
  linalg::MatmulOp matmul;
  Value a, b, c;
  int64_t m, n, k;
  linalg::GenericOp epilogue;
  Operation *init = nullptr;
  /// A is a convolution's patch matrix, which this im2col copy writes: the
  /// kernel reads the im2col's input in place (implicit GEMM) instead.
  linalg::GenericOp im2col = {};
};

bool isStaticMemRefOf(Value value, unsigned bits) {
  auto type = dyn_cast<MemRefType>(value.getType());
  return type && type.hasStaticShape() && type.getRank() == 2 &&
         type.getElementType().isInteger(bits);
}

/// Whether `op` may read or write memory (allocating does not count).
bool touchesMemory(Operation *op) {
  if (isMemoryEffectFree(op))
    return false;
  auto effects = dyn_cast<MemoryEffectOpInterface>(op);
  if (!effects)
    return true;
  SmallVector<MemoryEffects::EffectInstance> instances;
  effects.getEffects(instances);
  return llvm::any_of(instances, [](MemoryEffects::EffectInstance &e) {
    return isa<MemoryEffects::Read, MemoryEffects::Write>(e.getEffect());
  });
}

/// True when nothing after `matmul` but `epilogue` uses `buffer` (or a view
/// of it) other than to free it.
bool unusedAfter(Value buffer, linalg::MatmulOp matmul,
                 linalg::GenericOp epilogue) {
  for (Operation *user : buffer.getUsers()) {
    if (user == matmul || user == epilogue || isa<memref::DeallocOp>(user))
      continue;
    if (auto view = dyn_cast<ViewLikeOpInterface>(user)) {
      if (view.getViewSource() == buffer &&
          !unusedAfter(view->getResult(0), matmul, epilogue))
        return false;
      continue;
    }
    if (user->getBlock() != matmul->getBlock() ||
        !user->isBeforeInBlock(matmul))
      return false;
  }
  return true;
}

/// The all-parallel generic that can run on the accumulator in registers:
/// the next operation after `matmul` that touches memory, reading C with
/// the identity map and writing one other buffer, with C (a temporary) not
/// read again afterwards.
linalg::GenericOp findEpilogue(linalg::MatmulOp matmul, Value c) {
  Operation *next = matmul->getNextNode();
  while (next && !isa<linalg::GenericOp>(next)) {
    if (touchesMemory(next))
      return {};
    next = next->getNextNode();
  }
  auto generic = dyn_cast_or_null<linalg::GenericOp>(next);
  if (!generic || !generic.hasPureBufferSemantics() ||
      generic.getNumLoops() != 2 ||
      generic.getNumParallelLoops() != generic.getNumLoops() ||
      generic.getNumDpsInits() != 1)
    return {};
  OpOperand *output = generic.getDpsInitOperand(0);
  Value root = getRootBuffer(output->get()), rootOfC = getRootBuffer(c);
  if (root == rootOfC || root == getRootBuffer(matmul.getInputs()[0]) ||
      root == getRootBuffer(matmul.getInputs()[1]))
    return {};
  // C once, element for element; no other input in C's buffer (which the
  // kernel will not write) or in the output (which threads write).
  int readsOfC = 0;
  for (OpOperand *input : generic.getDpsInputOperands()) {
    if (input->get() != c) {
      Value other = getRootBuffer(input->get());
      if (other == rootOfC || other == root)
        return {};
      continue;
    }
    if (!generic.getMatchingIndexingMap(input).isIdentity())
      return {};
    ++readsOfC;
  }
  if (readsOfC != 1 || !c.getDefiningOp() ||
      !isa_and_present<memref::AllocOp>(rootOfC.getDefiningOp()) ||
      !unusedAfter(rootOfC, matmul, generic))
    return {};
  return generic;
}

/// The op that sets all of C's initial value when the kernel can compute
/// it instead: the last operation before `matmul` that touches memory, a
/// linalg.fill of C's buffer, or a linalg.broadcast of a bias along all
/// but the last dimension of C's buffer (C being that buffer or its rows
/// collapsed), so that element (row, col) starts from bias[col].
Operation *findInit(linalg::MatmulOp matmul, Value c) {
  Value root = getRootBuffer(c);
  // Linalg ops on other buffers (an im2col) may come in between.
  SmallVector<Operation *> between;
  Operation *previous = matmul->getPrevNode();
  while (previous && !isa<linalg::FillOp, linalg::BroadcastOp>(previous)) {
    auto linalgOp = dyn_cast<linalg::LinalgOp>(previous);
    if (touchesMemory(previous) &&
        (!linalgOp || !linalgOp.hasPureBufferSemantics()))
      return nullptr;
    if (linalgOp)
      between.push_back(previous);
    previous = previous->getPrevNode();
  }
  if (!previous)
    return nullptr;
  // Nothing in between touches C or writes what the init reads.
  for (Operation *op : between) {
    auto linalgOp = cast<linalg::LinalgOp>(op);
    for (OpOperand &operand : op->getOpOperands())
      if (getRootBuffer(operand.get()) == root)
        return nullptr;
    for (OpOperand &output : linalgOp.getDpsInitsMutable())
      for (Value read : previous->getOperands())
        if (getRootBuffer(output.get()) == getRootBuffer(read))
          return nullptr;
  }
  // C must be all of the buffer the op sets: the buffer, or its rows
  // collapsed with the last dimension kept (the bias's).
  int64_t rank = cast<MemRefType>(root.getType()).getRank();
  if (c != root) {
    auto collapse = c.getDefiningOp<memref::CollapseShapeOp>();
    if (!collapse || collapse.getSrc() != root)
      return nullptr;
    auto groups = collapse.getReassociationIndices();
    if (groups.back().size() != 1 || groups.back()[0] != rank - 1)
      return nullptr;
  }
  if (auto fill = dyn_cast<linalg::FillOp>(previous))
    return fill.hasPureBufferSemantics() && fill.getOutputs()[0] == root
               ? previous
               : nullptr;
  auto broadcast = cast<linalg::BroadcastOp>(previous);
  return broadcast.hasPureBufferSemantics() && broadcast.getInit() == root &&
                 llvm::equal(broadcast.getDimensions(),
                             llvm::seq<int64_t>(0, rank - 1))
             ? previous
             : nullptr;
}

/// Whether every row of `matrix` (an i8 memref whose rows are contiguous)
/// starts 16-byte aligned and is a whole number of 16-byte chunks. Device
/// allocations are aligned to 256 bytes; a constant must say its alignment.
bool rowsAre16ByteChunks(Value matrix) {
  auto type = cast<MemRefType>(matrix.getType());
  auto [strides, offset] = type.getStridesAndOffset();
  if (ShapedType::isDynamic(offset) || ShapedType::isDynamic(strides[0]) ||
      type.getDimSize(1) % 16 != 0 || strides[1] != 1 || strides[0] % 16 != 0 ||
      offset % 16 != 0)
    return false;
  auto getGlobal = getRootBuffer(matrix).getDefiningOp<memref::GetGlobalOp>();
  if (!getGlobal)
    return true;
  memref::GlobalOp global = getGlobalOf(getGlobal);
  return global && global.getAlignment().value_or(1) % 16 == 0;
}

/// The constant global B's data comes from, when B is all of it (the
/// global, or its leading dimensions collapsed: a convolution's filter) and
/// its value is known.
memref::GlobalOp constantOf(Value b) {
  auto getGlobal = getRootBuffer(b).getDefiningOp<memref::GetGlobalOp>();
  if (!getGlobal || !cast<MemRefType>(b.getType()).getLayout().isIdentity())
    return {};
  if (b != getGlobal.getResult()) {
    auto collapse = b.getDefiningOp<memref::CollapseShapeOp>();
    if (!collapse || collapse.getSrc() != getGlobal.getResult())
      return {};
  }
  memref::GlobalOp global = getGlobalOf(getGlobal);
  if (!global || !global.getConstant())
    return {};
  std::optional<Attribute> value = global.getInitialValue();
  if (!value || !isa<DenseIntElementsAttr>(*value))
    return {};
  return global;
}

/// A new constant global holding B (K x N, row major) transposed.
memref::GlobalOp createTransposed(memref::GlobalOp global, int64_t k,
                                  int64_t n) {
  auto values = cast<DenseIntElementsAttr>(*global.getInitialValue());
  SmallVector<APInt> data(values.value_begin<APInt>(),
                          values.value_end<APInt>());
  SmallVector<APInt> transposed;
  transposed.reserve(data.size());
  for (int64_t col = 0; col < n; ++col)
    for (int64_t depth = 0; depth < k; ++depth)
      transposed.push_back(data[depth * n + col]);
  auto type = RankedTensorType::get({n, k}, values.getElementType());
  OpBuilder b(global);
  auto result = memref::GlobalOp::create(
      b, global.getLoc(), (global.getSymName() + "_transposed").str(),
      b.getStringAttr("private"),
      MemRefType::get({n, k}, values.getElementType()),
      DenseElementsAttr::get(type, transposed), /*constant=*/true,
      b.getI64IntegerAttr(64));
  SymbolTable(global->getParentOfType<ModuleOp>()).insert(result);
  return result;
}

/// The im2col copy that writes all of A (a collapse of its buffer into
/// rows and depth), when nothing else uses that buffer and nothing between
/// it and `matmul` writes its input: A can then be read from the input.
linalg::GenericOp findIm2col(linalg::MatmulOp matmul, Value a) {
  auto collapse = a.getDefiningOp<memref::CollapseShapeOp>();
  if (!collapse || collapse.getReassociationIndices().size() != 2 ||
      !a.hasOneUse() || !collapse.getSrc().getDefiningOp<memref::AllocOp>())
    return {};
  Value patches = collapse.getSrc();
  linalg::GenericOp copy;
  for (Operation *user : patches.getUsers()) {
    if (user == collapse.getOperation() || isa<memref::DeallocOp>(user))
      continue;
    auto generic = dyn_cast<linalg::GenericOp>(user);
    if (copy || !generic)
      return {};
    copy = generic;
  }
  if (!copy || !copy.hasPureBufferSemantics() || copy.getNumDpsInputs() != 1 ||
      copy.getNumDpsInits() != 1 ||
      copy.getDpsInitOperand(0)->get() != patches ||
      !copy.getMatchingIndexingMap(copy.getDpsInitOperand(0)).isIdentity() ||
      copy.getNumParallelLoops() != copy.getNumLoops() ||
      copy->getBlock() != matmul->getBlock() || !copy->isBeforeInBlock(matmul))
    return {};
  auto yield = cast<linalg::YieldOp>(copy.getBody()->getTerminator());
  if (copy.getBody()->getOperations().size() != 1 ||
      yield.getOperand(0) != copy.getBody()->getArgument(0))
    return {};
  Value input = getRootBuffer(copy.getDpsInputOperand(0)->get());
  for (Operation *op = copy->getNextNode(); op != matmul;
       op = op->getNextNode()) {
    if (!touchesMemory(op))
      continue;
    auto linalgOp = dyn_cast<linalg::LinalgOp>(op);
    if (!linalgOp || !linalgOp.hasPureBufferSemantics())
      return {};
    for (OpOperand &output : linalgOp.getDpsInitsMutable())
      if (getRootBuffer(output.get()) == input)
        return {};
  }
  return copy;
}

FailureOr<Int8Matmul> matchInt8Matmul(linalg::MatmulOp op) {
  if (!op.hasPureBufferSemantics() || op.hasUserDefinedMaps() ||
      op.getCast() != linalg::TypeFn::cast_signed)
    return failure();
  Value a = op.getInputs()[0], b = op.getInputs()[1], c = op.getOutputs()[0];
  if (!isStaticMemRefOf(a, 8) || !isStaticMemRefOf(b, 8) ||
      !isStaticMemRefOf(c, 32))
    return failure();
  ArrayRef<int64_t> shapeA = cast<MemRefType>(a.getType()).getShape();
  ArrayRef<int64_t> shapeB = cast<MemRefType>(b.getType()).getShape();
  Int8Matmul result{op, a, b, c, shapeA[0], shapeB[1], shapeA[1], {}};
  if (result.m == 0 || result.n == 0 || result.k == 0)
    return failure();
  result.epilogue = findEpilogue(op, c);
  result.init = findInit(op, c);
  if (result.m >= kMmaM)
    result.im2col = findIm2col(op, a);
  return result;
}

/// Builds kernel code: index and i32 constants, index arithmetic, words.
struct KernelBuilder {
  ImplicitLocOpBuilder &b;

  Value index(int64_t value) {
    return arith::ConstantIndexOp::create(b, value);
  }
  Value i32(int64_t value) {
    return arith::ConstantIntOp::create(b, b.getI32Type(), value);
  }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, x, y); }
  Value add(Value x, int64_t y) { return y == 0 ? x : add(x, index(y)); }
  Value mul(Value x, int64_t y) {
    return arith::MulIOp::create(b, x, index(y));
  }
  Value div(Value x, int64_t y) {
    return arith::DivUIOp::create(b, x, index(y));
  }
  Value rem(Value x, int64_t y) {
    return arith::RemUIOp::create(b, x, index(y));
  }
  Value below(Value x, int64_t limit) {
    return arith::CmpIOp::create(b, arith::CmpIPredicate::ult, x, index(limit));
  }
  Value both(Value x, Value y) {
    if (!x)
      return y;
    return y ? arith::AndIOp::create(b, x, y) : x;
  }

  /// Four bytes as one word, byte i in bits 8i .. 8i+7.
  Value word(ArrayRef<Value> bytes) {
    auto vector = vector::FromElementsOp::create(
        b, VectorType::get({4}, b.getI8Type()), bytes);
    auto asWord = vector::BitCastOp::create(
        b, VectorType::get({1}, b.getI32Type()), vector);
    return vector::ExtractOp::create(b, asWord, ArrayRef<int64_t>{0});
  }
};

SmallVector<Value> indicesAt(ImplicitLocOpBuilder &b, AffineMap map,
                             ValueRange ivs) {
  SmallVector<Value> indices;
  for (AffineExpr expr : map.getResults()) {
    if (auto dim = dyn_cast<AffineDimExpr>(expr))
      indices.push_back(ivs[dim.getPosition()]);
    else
      indices.push_back(affine::AffineApplyOp::create(
          b, AffineMap::get(map.getNumDims(), 0, expr), ivs));
  }
  return indices;
}

/// Stores element (row, col) of the result, `accumulated` being A x B there:
/// adds C's initial value, then runs the epilogue's body on it (or stores
/// it to C).
void storeElement(ImplicitLocOpBuilder &b, const Int8Matmul &mm, Value row,
                  Value col, Value accumulated) {
  SmallVector<Value> ivs = {row, col};
  Value initial;
  if (auto fill = dyn_cast_or_null<linalg::FillOp>(mm.init))
    initial = fill.getInputs()[0];
  else if (auto broadcast = dyn_cast_or_null<linalg::BroadcastOp>(mm.init))
    initial = memref::LoadOp::create(b, broadcast.getInput(), col);
  else
    initial = memref::LoadOp::create(b, mm.c, ivs);
  Value total = arith::AddIOp::create(b, accumulated, initial);
  if (!mm.epilogue) {
    memref::StoreOp::create(b, total, mm.c, ivs);
    return;
  }
  linalg::GenericOp generic = mm.epilogue;
  Block *body = generic.getBody();
  IRMapping mapping;
  for (OpOperand &operand : generic->getOpOperands()) {
    BlockArgument argument = generic.getMatchingBlockArgument(&operand);
    if (argument.use_empty())
      continue;
    Value value = operand.get();
    if (value == mm.c && generic.isDpsInput(&operand))
      value = total;
    else if (isa<MemRefType>(value.getType()))
      value = memref::LoadOp::create(
          b, value,
          indicesAt(b, generic.getMatchingIndexingMap(&operand), ivs));
    mapping.map(argument, value);
  }
  for (Operation &op : body->without_terminator()) {
    if (auto index = dyn_cast<linalg::IndexOp>(op)) {
      mapping.map(index.getResult(), ivs[index.getDim()]);
      continue;
    }
    b.clone(op, mapping);
  }
  Value result = mapping.lookupOrDefault(
      cast<linalg::YieldOp>(body->getTerminator()).getOperand(0));
  OpOperand *output = generic.getDpsInitOperand(0);
  memref::StoreOp::create(
      b, result, output->get(),
      indicesAt(b, generic.getMatchingIndexingMap(output), ivs));
}

/// Creates an empty gpu.launch of `blocks` x `blocksY` blocks of `threads`
/// threads with the given shared buffers; the builder ends up in its body.
gpu::LaunchOp createLaunch(ImplicitLocOpBuilder &b, int64_t blocks,
                           int64_t blocksY, int64_t threads,
                           TypeRange shared = {}) {
  KernelBuilder k{b};
  Value one = k.index(1);
  auto launch = gpu::LaunchOp::create(b, k.index(blocks), k.index(blocksY), one,
                                      k.index(threads), one, one,
                                      /*dynamicSharedMemorySize=*/nullptr,
                                      /*asyncTokenType=*/nullptr,
                                      /*asyncDependencies=*/{}, shared);
  b.setInsertionPointToEnd(&launch.getBody().front());
  gpu::TerminatorOp::create(b);
  b.setInsertionPointToStart(&launch.getBody().front());
  return launch;
}

/// for (i = 0; i < count; ++i) body(i), with the builder left after it.
void loop(ImplicitLocOpBuilder &b, int64_t count,
          function_ref<void(Value)> body) {
  KernelBuilder k{b};
  auto forOp = scf::ForOp::create(b, k.index(0), k.index(count), k.index(1));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(forOp.getBody());
  body(forOp.getInductionVar());
}

/// Where a thread of the tensor-core kernel works.
struct ThreadPosition {
  Value thread, group, inGroup, warpRow, warpCol;
};

ThreadPosition positionOf(KernelBuilder &k, Value thread) {
  Value warp = k.div(thread, kWarpSize), lane = k.rem(thread, kWarpSize);
  return {thread, k.div(lane, 4), k.rem(lane, 4), k.mul(k.div(warp, 2), kWarpM),
          k.mul(k.rem(warp, 2), kWarpN)};
}

/// A matrix operand as the kernels read it: a 2-D buffer, or a
/// convolution's patch matrix read from its im2col's input in place.
struct Matrix {
  Value buffer;
  int64_t rows, cols;
  /// With an im2col: `buffer` is its input, and the first `rowDims` of its
  /// iteration dimensions make the row, the others the column. (Op handles
  /// are values; their accessors are not const.)
  mutable linalg::GenericOp im2col = {};
  int64_t rowDims = 0;

  /// The position in `buffer` of element (row, col).
  SmallVector<Value> positionOf(KernelBuilder &k, Value row, Value col) const {
    if (!im2col)
      return {row, col};
    // (row, col) delinearized into the im2col's iteration indices, which
    // its indexing map takes to the input.
    ArrayRef<int64_t> shape =
        cast<MemRefType>(im2col.getDpsInitOperand(0)->get().getType())
            .getShape();
    int64_t dims = shape.size();
    SmallVector<Value> ivs(dims);
    auto delinearize = [&](Value linear, int64_t first, int64_t last) {
      for (int64_t d = last - 1; d >= first; --d) {
        ivs[d] = d == first ? linear : k.rem(linear, shape[d]);
        if (d > first)
          linear = k.div(linear, shape[d]);
      }
    };
    delinearize(row, 0, rowDims);
    delinearize(col, rowDims, dims);
    return indicesAt(
        k.b, im2col.getMatchingIndexingMap(im2col.getDpsInputOperand(0)), ivs);
  }

  /// The 2-D buffer `matrix` itself.
  static Matrix of(Value matrix) {
    ArrayRef<int64_t> shape = cast<MemRefType>(matrix.getType()).getShape();
    return {matrix, shape[0], shape[1]};
  }

  /// Whether 16 bytes of a row from a column that is a multiple of 16 are
  /// 16 contiguous, 16-byte aligned bytes of `buffer`.
  bool chunked() const {
    if (!im2col)
      return rowsAre16ByteChunks(buffer);
    auto type = cast<MemRefType>(buffer.getType());
    auto [strides, offset] = type.getStridesAndOffset();
    AffineMap map = im2col.getMatchingIndexingMap(im2col.getDpsInputOperand(0));
    unsigned last = map.getNumDims() - 1;
    auto innermost = dyn_cast<AffineDimExpr>(map.getResults().back());
    if (!innermost || innermost.getPosition() != last || strides.back() != 1 ||
        ShapedType::isDynamic(offset) || offset % 16 != 0 ||
        type.getShape().back() % 16 != 0 ||
        getRootBuffer(buffer).getDefiningOp<memref::GetGlobalOp>())
      return false;
    for (AffineExpr expr : map.getResults().drop_back())
      if (expr.isFunctionOfDim(last))
        return false;
    for (int64_t stride : ArrayRef<int64_t>(strides).drop_back())
      if (ShapedType::isDynamic(stride) || stride % 16 != 0)
        return false;
    return true;
  }
};

/// Element (row, col) of `matrix`, or 0 where (row, col) is outside it.
/// Positions are clamped into the matrix, so no load leaves it; bounds that
/// a tiling cannot cross are not checked.
Value byteAt(KernelBuilder &k, const Matrix &matrix, Value row, Value col,
             bool rowMayLeave, bool colMayLeave) {
  ImplicitLocOpBuilder &b = k.b;
  Value inside;
  auto clamp = [&](Value &position, int64_t extent) {
    inside = k.both(inside, k.below(position, extent));
    position = arith::MinUIOp::create(b, position, k.index(extent - 1));
  };
  if (rowMayLeave)
    clamp(row, matrix.rows);
  if (colMayLeave)
    clamp(col, matrix.cols);
  Value value =
      memref::LoadOp::create(b, matrix.buffer, matrix.positionOf(k, row, col));
  if (!inside)
    return value;
  return arith::SelectOp::create(
      b, inside, value, arith::ConstantIntOp::create(b, b.getI8Type(), 0));
}

/// The tensor-core kernel's code, one thread's part of each phase; the GPU
/// form and the host emulation run the same code.
struct TensorCoreCode {
  ImplicitLocOpBuilder &b;
  const Int8Matmul &mm;
  Value sharedA, sharedB;
  /// B's transposed constant (N x K), when it has one.
  Value transposedB;
  bool rowsMayLeave = mm.m % kTileM != 0, colsMayLeave = mm.n % kTileN != 0;
  bool depthMayLeave = mm.k % kTileK != 0;

  /// Copies this thread's part of the A and B tiles at (rowBase, depthBase)
  /// and (depthBase, colBase) into shared memory, B transposed. Thread t
  /// copies 16 bytes of row t / 2 of A (words 4(t % 2) ..), and of column
  /// t % 64 of B from depth 16(t / 64), so that neighbouring threads read
  /// neighbouring columns of a row-major B, or neighbouring 16 bytes of a
  /// transposed one.
  void stage(Value thread, Value rowBase, Value colBase, Value depthBase) {
    KernelBuilder k{b};
    Value rowA = k.div(thread, 2), firstWordA = k.mul(k.rem(thread, 2), 4);
    Matrix a{mm.a, mm.m, mm.k};
    if (linalg::GenericOp im2col = mm.im2col)
      a = {im2col.getDpsInputOperand(0)->get(), mm.m, mm.k, im2col,
           static_cast<int64_t>(mm.a.getDefiningOp<memref::CollapseShapeOp>()
                                    .getReassociationIndices()
                                    .front()
                                    .size())};
    copyRowChunk(a, k.add(rowBase, rowA), depthBase, firstWordA, rowsMayLeave,
                 sharedA, rowA);
    Value colB = k.rem(thread, kTileN);
    Value firstWordB = k.mul(k.div(thread, kTileN), 4);
    if (transposedB) {
      copyRowChunk({transposedB, mm.n, mm.k}, k.add(colBase, colB), depthBase,
                   firstWordB, colsMayLeave, sharedB, colB);
      return;
    }
    for (int64_t w = 0; w < 4; ++w) {
      Value wordIndex = k.add(firstWordB, w);
      SmallVector<Value> bytes;
      for (int64_t e = 0; e < 4; ++e)
        bytes.push_back(byteAt(k, Matrix::of(mm.b),
                               k.add(k.add(depthBase, k.mul(wordIndex, 4)), e),
                               k.add(colBase, colB), depthMayLeave,
                               colsMayLeave));
      memref::StoreOp::create(b, k.word(bytes), sharedB,
                              ValueRange{colB, wordIndex});
    }
  }

  /// Copies 16 bytes of row `row` of `matrix` (the reduction contiguous)
  /// from depth depthBase + 4 firstWord into words firstWord .. + 3 of row
  /// `sharedRow` of `shared`, zeros where they are outside the matrix: one
  /// 16-byte load where the rows are aligned 16-byte chunks, else bytes.
  void copyRowChunk(const Matrix &matrix, Value row, Value depthBase,
                    Value firstWord, bool rowMayLeave, Value shared,
                    Value sharedRow) {
    KernelBuilder k{b};
    Value depth = k.add(depthBase, k.mul(firstWord, 4));
    if (!matrix.chunked()) {
      for (int64_t w = 0; w < 4; ++w) {
        SmallVector<Value> bytes;
        for (int64_t e = 0; e < 4; ++e)
          bytes.push_back(byteAt(k, matrix, row, k.add(depth, 4 * w + e),
                                 rowMayLeave, depthMayLeave));
        memref::StoreOp::create(b, k.word(bytes), shared,
                                ValueRange{sharedRow, k.add(firstWord, w)});
      }
      return;
    }
    // The 16 bytes are all inside the row or all past its end.
    Value inside;
    if (rowMayLeave) {
      inside = k.below(row, matrix.rows);
      row = arith::MinUIOp::create(b, row, k.index(matrix.rows - 1));
    }
    if (depthMayLeave) {
      inside = k.both(inside, k.below(depth, matrix.cols));
      depth = arith::MinUIOp::create(b, depth, k.index(matrix.cols - 16));
    }
    auto chunk =
        vector::LoadOp::create(b, VectorType::get({16}, b.getI8Type()),
                               matrix.buffer, matrix.positionOf(k, row, depth),
                               /*nontemporal=*/false, llvm::Align(16));
    Value words = vector::BitCastOp::create(
        b, VectorType::get({4}, b.getI32Type()), chunk);
    if (inside)
      words = arith::SelectOp::create(
          b, inside, words,
          arith::ConstantOp::create(
              b, DenseElementsAttr::get(cast<VectorType>(words.getType()),
                                        b.getI32IntegerAttr(0))));
    for (int64_t w = 0; w < 4; ++w)
      memref::StoreOp::create(
          b, vector::ExtractOp::create(b, words, ArrayRef<int64_t>{w}), shared,
          ValueRange{sharedRow, k.add(firstWord, w)});
  }

  /// This thread's A fragments (4 words per 16-row tile) and B fragments
  /// (2 words per 8-column tile) of its warp's 32x32 quarter.
  std::pair<SmallVector<SmallVector<Value>>, SmallVector<SmallVector<Value>>>
  fragments(const ThreadPosition &at) {
    KernelBuilder k{b};
    auto load = [&](Value tile, Value row, Value word) -> Value {
      return memref::LoadOp::create(b, tile, ValueRange{row, word});
    };
    Value low = at.inGroup, high = k.add(at.inGroup, 4);
    SmallVector<SmallVector<Value>> a, bs;
    for (int64_t i = 0; i < kMmaTilesM; ++i) {
      Value row = k.add(k.add(at.warpRow, at.group), i * kMmaM);
      Value row8 = k.add(row, 8);
      a.push_back({load(sharedA, row, low), load(sharedA, row8, low),
                   load(sharedA, row, high), load(sharedA, row8, high)});
    }
    for (int64_t j = 0; j < kMmaTilesN; ++j) {
      Value col = k.add(k.add(at.warpCol, at.group), j * kMmaN);
      bs.push_back({load(sharedB, col, low), load(sharedB, col, high)});
    }
    return {a, bs};
  }

  /// Stores this thread's accumulators through the epilogue: accumulator v
  /// of mma tile (i, j) is element (g + 8 (v / 2), 2t + v % 2) of it.
  void finish(const ThreadPosition &at, Value rowBase, Value colBase,
              function_ref<Value(int64_t)> accumulator) {
    KernelBuilder k{b};
    for (int64_t i = 0; i < kMmaTilesM; ++i)
      for (int64_t j = 0; j < kMmaTilesN; ++j)
        for (int64_t v = 0; v < 4; ++v) {
          Value row = k.add(k.add(rowBase, k.add(at.warpRow, at.group)),
                            i * kMmaM + 8 * (v / 2));
          Value col =
              k.add(k.add(colBase, k.add(at.warpCol, k.mul(at.inGroup, 2))),
                    j * kMmaN + v % 2);
          Value inside;
          if (rowsMayLeave)
            inside = k.both(inside, k.below(row, mm.m));
          if (colsMayLeave)
            inside = k.both(inside, k.below(col, mm.n));
          Value accumulated = accumulator((i * kMmaTilesN + j) * 4 + v);
          if (!inside) {
            storeElement(b, mm, row, col, accumulated);
            continue;
          }
          auto guard = scf::IfOp::create(b, inside, /*withElseRegion=*/false);
          OpBuilder::InsertionGuard insertion(b);
          b.setInsertionPointToStart(&guard.getThenRegion().front());
          storeElement(b, mm, row, col, accumulated);
        }
  }
};

constexpr int64_t kAccumulators = kMmaTilesM * kMmaTilesN * 4;

/// The tensor-core kernel on the GPU: a gpu.launch whose k loop carries the
/// accumulators in registers and multiplies with mma.sync.
void emitTensorCoreKernel(ImplicitLocOpBuilder &b, const Int8Matmul &mm,
                          Value transposedB) {
  MLIRContext *context = b.getContext();
  auto workgroup =
      gpu::AddressSpaceAttr::get(context, gpu::AddressSpace::Workgroup);
  auto tileType = MemRefType::get({kTileM, kRowWords}, b.getI32Type(),
                                  MemRefLayoutAttrInterface{}, workgroup);
  gpu::LaunchOp launch = createLaunch(b, llvm::divideCeil(mm.m, kTileM),
                                      llvm::divideCeil(mm.n, kTileN), kThreads,
                                      {tileType, tileType});
  TensorCoreCode code{b, mm, launch.getWorkgroupAttributions()[0],
                      launch.getWorkgroupAttributions()[1], transposedB};
  KernelBuilder k{b};
  ThreadPosition at = positionOf(k, launch.getThreadIds().x);
  Value rowBase = k.mul(launch.getBlockIds().x, kTileM);
  Value colBase = k.mul(launch.getBlockIds().y, kTileN);

  SmallVector<Value> zeros(kAccumulators, k.i32(0));
  auto steps =
      scf::ForOp::create(b, k.index(0), k.index(llvm::divideCeil(mm.k, kTileK)),
                         k.index(1), zeros);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(steps.getBody());
    code.stage(at.thread, rowBase, colBase,
               k.mul(steps.getInductionVar(), kTileK));
    gpu::BarrierOp::create(b);
    auto [fragmentsA, fragmentsB] = code.fragments(at);
    Type i32 = b.getI32Type();
    auto resultType =
        LLVM::LLVMStructType::getLiteral(context, {i32, i32, i32, i32});
    SmallVector<Value> updated;
    ValueRange accumulators = steps.getRegionIterArgs();
    for (int64_t i = 0; i < kMmaTilesM; ++i)
      for (int64_t j = 0; j < kMmaTilesN; ++j) {
        auto mma = NVVM::MmaOp::create(
            b, resultType, fragmentsA[i], fragmentsB[j],
            accumulators.slice((i * kMmaTilesN + j) * 4, 4),
            ArrayRef<int64_t>{kMmaM, kMmaN, kTileK},
            /*b1Op=*/std::nullopt, NVVM::MMAIntOverflow::wrapped,
            std::array<NVVM::MMATypes, 2>{NVVM::MMATypes::s8,
                                          NVVM::MMATypes::s8},
            std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                           NVVM::MMALayout::col});
        for (int64_t v = 0; v < 4; ++v)
          updated.push_back(
              LLVM::ExtractValueOp::create(b, mma, ArrayRef<int64_t>{v}));
      }
    gpu::BarrierOp::create(b);
    scf::YieldOp::create(b, updated);
  }
  code.finish(at, rowBase, colBase,
              [&](int64_t v) -> Value { return steps.getResult(v); });
}

/// Byte `byte` of `word`, sign-extended to i32.
Value signedByte(ImplicitLocOpBuilder &b, Value word, Value byte) {
  KernelBuilder k{b};
  Value shift = arith::IndexCastOp::create(b, b.getI32Type(), k.mul(byte, 8));
  Value shifted = arith::ShRUIOp::create(b, word, shift);
  Value low = arith::TruncIOp::create(b, b.getI8Type(), shifted);
  return arith::ExtSIOp::create(b, b.getI32Type(), low);
}

/// What one warp's mma.sync m16n8k32 computes, from the 32 lanes'
/// fragments (`a`: [tile][lane][4] words, tile `i`; `b`: [tile][lane][2],
/// tile `j`) and accumulators
/// (`accumulators`: [thread][kAccumulators], this warp's lanes from
/// `firstThread`, this tile's four from `first`), as the PTX ISA defines
/// the layouts: A[r][c] is byte c % 4 of word (r / 8) + 2 (c / 16) of lane
/// 4 (r % 8) + (c % 16) / 4; B[c][n] byte c % 4 of word c / 16 of lane
/// 4n + (c % 16) / 4; D[r][n] accumulator 2 (r / 8) + n % 2 of lane
/// 4 (r % 8) + n / 2.
void emulateMma(ImplicitLocOpBuilder &b, Value a, int64_t i, Value bFragments,
                int64_t j, Value accumulators, Value firstThread,
                int64_t first) {
  KernelBuilder k{b};
  loop(b, kMmaM, [&](Value row) {
    loop(b, kMmaN, [&](Value col) {
      auto sum = scf::ForOp::create(b, k.index(0), k.index(kTileK), k.index(1),
                                    ValueRange{k.i32(0)});
      {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPointToStart(sum.getBody());
        Value c = sum.getInductionVar();
        Value quad = k.div(k.rem(c, 16), 4), byte = k.rem(c, 4);
        Value laneA = k.add(k.mul(k.rem(row, 8), 4), quad);
        Value wordA = k.add(k.div(row, 8), k.mul(k.div(c, 16), 2));
        Value laneB = k.add(k.mul(col, 4), quad);
        Value x = signedByte(
            b,
            memref::LoadOp::create(b, a, ValueRange{k.index(i), laneA, wordA}),
            byte);
        Value y = signedByte(
            b,
            memref::LoadOp::create(b, bFragments,
                                   ValueRange{k.index(j), laneB, k.div(c, 16)}),
            byte);
        Value product = arith::MulIOp::create(b, x, y);
        scf::YieldOp::create(b, ValueRange{arith::AddIOp::create(
                                    b, sum.getRegionIterArgs()[0], product)});
      }
      Value owner =
          k.add(firstThread, k.add(k.mul(k.rem(row, 8), 4), k.div(col, 2)));
      Value slot = k.add(k.add(k.mul(k.div(row, 8), 2), k.rem(col, 2)), first);
      Value old =
          memref::LoadOp::create(b, accumulators, ValueRange{owner, slot});
      memref::StoreOp::create(b,
                              arith::AddIOp::create(b, old, sum.getResult(0)),
                              accumulators, ValueRange{owner, slot});
    });
  });
}

/// The tensor-core kernel emulated on the host: loops over blocks, then
/// over the threads of each phase between barriers, warps computing their
/// products with `emulateMma` from the fragments each lane loaded. Shared
/// tiles and registers are buffers.
void emulateTensorCoreKernel(ImplicitLocOpBuilder &b, const Int8Matmul &mm,
                             Value transposedB) {
  Type i32 = b.getI32Type();
  auto buffer = [&](ArrayRef<int64_t> shape) -> Value {
    return memref::AllocOp::create(b, MemRefType::get(shape, i32));
  };
  Value sharedA = buffer({kTileM, kRowWords});
  Value sharedB = buffer({kTileN, kRowWords});
  Value registers = buffer({kThreads, kAccumulators});
  Value fragmentsA = buffer({kMmaTilesM, kWarpSize, 4});
  Value fragmentsB = buffer({kMmaTilesN, kWarpSize, 2});
  TensorCoreCode code{b, mm, sharedA, sharedB, transposedB};
  KernelBuilder k{b};
  loop(b, llvm::divideCeil(mm.m, kTileM), [&](Value blockX) {
    loop(b, llvm::divideCeil(mm.n, kTileN), [&](Value blockY) {
      Value rowBase = k.mul(blockX, kTileM);
      Value colBase = k.mul(blockY, kTileN);
      loop(b, kThreads, [&](Value thread) {
        for (int64_t v = 0; v < kAccumulators; ++v)
          memref::StoreOp::create(b, k.i32(0), registers,
                                  ValueRange{thread, k.index(v)});
      });
      loop(b, llvm::divideCeil(mm.k, kTileK), [&](Value step) {
        Value depthBase = k.mul(step, kTileK);
        loop(b, kThreads, [&](Value thread) {
          code.stage(thread, rowBase, colBase, depthBase);
        });
        loop(b, kThreads / kWarpSize, [&](Value warp) {
          Value firstThread = k.mul(warp, kWarpSize);
          loop(b, kWarpSize, [&](Value lane) {
            ThreadPosition at = positionOf(k, k.add(firstThread, lane));
            auto [a, bs] = code.fragments(at);
            for (auto [i, words] : llvm::enumerate(a))
              for (auto [r, word] : llvm::enumerate(words))
                memref::StoreOp::create(
                    b, word, fragmentsA,
                    ValueRange{k.index(i), lane, k.index(r)});
            for (auto [j, words] : llvm::enumerate(bs))
              for (auto [r, word] : llvm::enumerate(words))
                memref::StoreOp::create(
                    b, word, fragmentsB,
                    ValueRange{k.index(j), lane, k.index(r)});
          });
          for (int64_t i = 0; i < kMmaTilesM; ++i)
            for (int64_t j = 0; j < kMmaTilesN; ++j)
              emulateMma(b, fragmentsA, i, fragmentsB, j, registers,
                         firstThread, (i * kMmaTilesN + j) * 4);
        });
      });
      loop(b, kThreads, [&](Value thread) {
        ThreadPosition at = positionOf(k, thread);
        code.finish(at, rowBase, colBase, [&](int64_t v) -> Value {
          return memref::LoadOp::create(b, registers,
                                        ValueRange{thread, k.index(v)});
        });
      });
    });
  });
  for (Value allocated : {sharedA, sharedB, registers, fragmentsA, fragmentsB})
    memref::DeallocOp::create(b, allocated);
}
/// The dp4a kernel: one thread per element of the result, four bytes of
/// the reduction per dp4a. On the host, a loop over the elements computes
/// each dp4a as four products.
void emitDp4aKernel(ImplicitLocOpBuilder &b, const Int8Matmul &mm,
                    bool onHost) {
  int64_t elements = mm.m * mm.n;
  KernelBuilder k{b};
  auto body = [&](Value id) {
    Value row = k.div(id, mm.n), col = k.rem(id, mm.n);
    bool depthMayLeave = mm.k % 4 != 0;
    auto steps = scf::ForOp::create(b, k.index(0), k.index(mm.k), k.index(4),
                                    ValueRange{k.i32(0)});
    {
      OpBuilder::InsertionGuard insertion(b);
      b.setInsertionPointToStart(steps.getBody());
      Value depth = steps.getInductionVar();
      SmallVector<Value> x, y;
      for (int64_t e = 0; e < 4; ++e) {
        Value at = k.add(depth, e);
        x.push_back(byteAt(k, Matrix::of(mm.a), row, at, false, depthMayLeave));
        y.push_back(byteAt(k, Matrix::of(mm.b), at, col, depthMayLeave, false));
      }
      Value sum = steps.getRegionIterArgs()[0];
      if (onHost) {
        for (int64_t e = 0; e < 4; ++e)
          sum = arith::AddIOp::create(
              b, sum,
              arith::MulIOp::create(
                  b, arith::ExtSIOp::create(b, b.getI32Type(), x[e]),
                  arith::ExtSIOp::create(b, b.getI32Type(), y[e])));
      } else {
        auto bytes = VectorType::get({4}, b.getI8Type());
        sum = NVVM::DotAccumulate4WayOp::create(
            b, b.getI32Type(), vector::FromElementsOp::create(b, bytes, x),
            NVVM::DotAccumulateType::SIGNED,
            vector::FromElementsOp::create(b, bytes, y),
            NVVM::DotAccumulateType::SIGNED, sum);
      }
      scf::YieldOp::create(b, sum);
    }
    storeElement(b, mm, row, col, steps.getResult(0));
  };
  if (onHost) {
    loop(b, elements, body);
    return;
  }
  gpu::LaunchOp launch = createLaunch(
      b, llvm::divideCeil(elements, kDp4aThreads), 1, kDp4aThreads);
  Value id = k.add(k.mul(launch.getBlockIds().x, kDp4aThreads),
                   launch.getThreadIds().x);
  auto guard = scf::IfOp::create(b, k.below(id, elements),
                                 /*withElseRegion=*/false);
  b.setInsertionPointToStart(&guard.getThenRegion().front());
  body(id);
}

} // namespace

FailureOr<int64_t> mlir::qat::mapInt8MatmulsToTensorCores(func::FuncOp func,
                                                          bool emulateOnHost) {
  SmallVector<Int8Matmul> matmuls;
  func.walk([&](linalg::MatmulOp op) {
    if (FailureOr<Int8Matmul> matched = matchInt8Matmul(op); succeeded(matched))
      matmuls.push_back(*matched);
  });
  DenseMap<Operation *, memref::GlobalOp> transposed;
  for (Int8Matmul &mm : matmuls) {
    // With an epilogue, the kernel takes its place: its operands may be
    // defined after the matmul, and nothing in between touches memory.
    Operation *position =
        mm.epilogue ? mm.epilogue.getOperation() : mm.matmul.getOperation();
    ImplicitLocOpBuilder b(mm.matmul.getLoc(), position);
    if (mm.m < kMmaM) {
      emitDp4aKernel(b, mm, emulateOnHost);
    } else {
      // A constant B is stored transposed at compile time, so that the
      // kernel reads it 16 bytes at a time along the reduction.
      Value transposedB;
      if (memref::GlobalOp constant = constantOf(mm.b)) {
        memref::GlobalOp &copy = transposed[constant.getOperation()];
        if (!copy)
          copy = createTransposed(constant, mm.k, mm.n);
        transposedB =
            memref::GetGlobalOp::create(b, copy.getType(), copy.getSymName());
      }
      if (emulateOnHost)
        emulateTensorCoreKernel(b, mm, transposedB);
      else
        emitTensorCoreKernel(b, mm, transposedB);
    }
    if (mm.epilogue)
      mm.epilogue.erase();
    if (mm.init)
      mm.init->erase();
    mm.matmul.erase();
    if (mm.im2col) {
      // The patch matrix is no longer written or read.
      Value patches = mm.im2col.getDpsInitOperand(0)->get();
      mm.im2col.erase();
      for (Operation *user : llvm::make_early_inc_range(patches.getUsers()))
        if (user->use_empty())
          user->erase();
      if (patches.use_empty())
        patches.getDefiningOp()->erase();
    }
  }
  return static_cast<int64_t>(matmuls.size());
}

namespace {

struct GpuTensorCoreMatmulPass
    : public qat::impl::GpuTensorCoreMatmulBase<GpuTensorCoreMatmulPass> {
  using Base::Base;
  void runOnOperation() override {
    if (failed(mapInt8MatmulsToTensorCores(getOperation(), emulateOnHost)))
      signalPassFailure();
  }
};

} // namespace

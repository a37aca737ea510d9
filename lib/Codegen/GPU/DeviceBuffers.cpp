//===- DeviceBuffers.cpp - qat-gpu-device-buffers -------------------------===//
//
// Part of qat-mlir. The runtime ABI keeps tensors in host memory; kernels
// need device memory. After kernel outlining, each buffer a kernel uses is
// traced to its root (an argument, a constant, a temporary) and given a
// device counterpart: copied in, copied back when written, freed on return.
//
//===----------------------------------------------------------------------===//

#include "qat/Codegen/GPU/Passes.h"

#include "Buffers.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/StringSet.h"

namespace mlir::qat {
#define GEN_PASS_DEF_GPUDEVICEBUFFERS
#include "qat/Codegen/GPU/Passes.h.inc"
} // namespace mlir::qat

using namespace mlir;
using namespace mlir::qat;

namespace {

/// The arguments of `kernel` it may write through (conservatively: any
/// argument an operation without declared effects touches).
llvm::SmallDenseSet<unsigned> getWrittenArguments(gpu::GPUFuncOp kernel) {
  llvm::SmallDenseSet<unsigned> written;
  Block &body = kernel.getBody().front();
  auto note = [&](Value value) {
    auto arg = dyn_cast<BlockArgument>(getRootBuffer(value));
    if (arg && arg.getOwner() == &body)
      written.insert(arg.getArgNumber());
  };
  kernel.walk([&](Operation *op) {
    auto effects = dyn_cast<MemoryEffectOpInterface>(op);
    if (!effects) {
      if (!op->hasTrait<OpTrait::HasRecursiveMemoryEffects>())
        for (Value operand : op->getOperands())
          if (isa<MemRefType>(operand.getType()))
            note(operand);
      return;
    }
    SmallVector<MemoryEffects::EffectInstance> instances;
    effects.getEffects(instances);
    for (const MemoryEffects::EffectInstance &instance : instances)
      if (isa<MemoryEffects::Write>(instance.getEffect()) &&
          instance.getValue())
        note(instance.getValue());
  });
  return written;
}

/// The sizes of `buffer`'s dynamic dimensions, read at the builder's point.
SmallVector<Value> getDynamicSizes(OpBuilder &b, Location loc, Value buffer) {
  SmallVector<Value> sizes;
  auto type = cast<MemRefType>(buffer.getType());
  for (int64_t d = 0; d < type.getRank(); ++d)
    if (type.isDynamicDim(d))
      sizes.push_back(memref::DimOp::create(b, loc, buffer, d));
  return sizes;
}

gpu::AllocOp createDeviceBuffer(OpBuilder &b, Location loc, MemRefType type,
                                ValueRange dynamicSizes) {
  return gpu::AllocOp::create(b, loc, type, /*asyncToken=*/Type(),
                              /*asyncDependencies=*/ValueRange(), dynamicSizes,
                              /*symbolOperands=*/ValueRange(),
                              /*hostShared=*/false);
}

gpu::MemcpyOp createCopy(OpBuilder &b, Location loc, Value to, Value from) {
  return gpu::MemcpyOp::create(b, loc, /*asyncToken=*/Type(),
                               /*asyncDependencies=*/ValueRange(), to, from);
}

/// Whether host code may use a device buffer in `op`: only to hand it to
/// the GPU, copy it, free it or compute a view's metadata.
bool isHostSafe(Operation *op) {
  return isa<gpu::LaunchFuncOp, gpu::MemcpyOp, gpu::DeallocOp,
             ViewLikeOpInterface, memref::DimOp,
             memref::ExtractStridedMetadataOp>(op);
}

} // namespace

LogicalResult mlir::qat::makeConstantsResident(ModuleOp module) {
  // How often each kernel is launched: a kernel's constant argument can
  // only be replaced when it has one launch.
  llvm::DenseMap<Operation *, SmallVector<gpu::LaunchFuncOp>> launchesOf;
  module.walk([&](gpu::LaunchFuncOp launch) {
    if (auto kernel = SymbolTable::lookupNearestSymbolFrom<gpu::GPUFuncOp>(
            launch, launch.getKernel()))
      launchesOf[kernel].push_back(launch);
  });
  for (auto &[kernelOp, launches] : launchesOf) {
    if (launches.size() != 1)
      continue;
    auto kernel = cast<gpu::GPUFuncOp>(kernelOp);
    gpu::LaunchFuncOp launch = launches.front();
    auto kernelModule = kernel->getParentOfType<gpu::GPUModuleOp>();
    SymbolTable deviceSymbols(kernelModule);
    llvm::BitVector erased(kernel.getNumArguments());
    for (auto [i, operand] : llvm::enumerate(launch.getKernelOperands())) {
      auto getGlobal = operand.getDefiningOp<memref::GetGlobalOp>();
      if (!getGlobal)
        continue;
      memref::GlobalOp global = getGlobalOf(getGlobal);
      if (!global || !global.getConstant() || !global.getInitialValue() ||
          kernel.getArgument(i).getType() != getGlobal.getType())
        continue;
      // The constant, once, in the device image; the kernel reads it there.
      if (!deviceSymbols.lookup(global.getSymName())) {
        OpBuilder b(kernelModule.getBody(), kernelModule.getBody()->begin());
        auto copy = cast<memref::GlobalOp>(b.clone(*global));
        copy.setPrivate();
        deviceSymbols.insert(copy);
      }
      OpBuilder b(&kernel.getBody().front(),
                  kernel.getBody().front().begin());
      auto inKernel = memref::GetGlobalOp::create(
          b, getGlobal.getLoc(), getGlobal.getType(), global.getSymName());
      kernel.getArgument(i).replaceAllUsesWith(inKernel.getResult());
      erased.set(i);
    }
    if (erased.none())
      continue;
    if (failed(kernel.eraseArguments(erased)))
      return kernel.emitOpError("could not drop its constant arguments");
    for (int i = erased.size() - 1; i >= 0; --i)
      if (erased.test(i))
        launch.getKernelOperandsMutable().erase(i);
  }
  // Constants no kernel takes from the host any more, and host copies of
  // constants that only the device image needs now.
  llvm::StringSet<> usedOnHost;
  for (auto func : module.getOps<func::FuncOp>())
    func.walk([&](memref::GetGlobalOp getGlobal) {
      if (getGlobal.use_empty())
        getGlobal.erase();
      else
        usedOnHost.insert(getGlobal.getName());
    });
  for (auto global : llvm::make_early_inc_range(module.getOps<memref::GlobalOp>()))
    if (global.getConstant() && global.isPrivate() &&
        !usedOnHost.contains(global.getSymName()))
      global.erase();
  return success();
}

LogicalResult mlir::qat::placeBuffersOnDevice(func::FuncOp func) {
  SmallVector<gpu::LaunchFuncOp> launches;
  func.walk([&](gpu::LaunchFuncOp launch) { launches.push_back(launch); });
  if (launches.empty())
    return success();
  Block &entry = func.getBody().front();

  // Every root buffer a kernel uses, in first-use order, and whether a
  // kernel writes it.
  llvm::MapVector<Value, bool> roots;
  for (gpu::LaunchFuncOp launch : launches) {
    auto kernel = SymbolTable::lookupNearestSymbolFrom<gpu::GPUFuncOp>(
        launch, launch.getKernel());
    if (!kernel)
      return launch.emitOpError("launches an unknown kernel");
    llvm::SmallDenseSet<unsigned> written = getWrittenArguments(kernel);
    for (auto [i, operand] : llvm::enumerate(launch.getKernelOperands()))
      if (isa<MemRefType>(operand.getType()))
        roots[getRootBuffer(operand)] |= written.contains(i);
  }

  OpBuilder b(func.getContext());
  SmallVector<Value> deviceBuffers;
  SmallVector<std::pair<Value, Value>> copyBack; // (host, device)
  for (auto [root, written] : roots) {
    auto type = cast<MemRefType>(root.getType());
    Location loc = root.getLoc();
    auto arg = dyn_cast<BlockArgument>(root);
    bool isArgument = arg && arg.getOwner() == &entry;
    if (isArgument || root.getDefiningOp<memref::GetGlobalOp>()) {
      // Copied in when the function starts (arguments) or where the
      // constant is taken; written arguments are copied back on return.
      if (isArgument)
        b.setInsertionPointToStart(&entry);
      else
        b.setInsertionPointAfterValue(root);
      if (!type.getLayout().isIdentity())
        return emitError(loc, "qat-gpu-device-buffers: a buffer with a "
                              "non-identity layout cannot be copied to the "
                              "GPU: ")
               << type;
      SmallVector<Value> sizes = getDynamicSizes(b, loc, root);
      gpu::AllocOp device = createDeviceBuffer(b, loc, type, sizes);
      gpu::MemcpyOp in = createCopy(b, loc, device.getMemref(), root);
      // Everything but the copy and the size queries now uses the device
      // buffer.
      llvm::SmallPtrSet<Operation *, 4> keep = {in};
      for (Value size : sizes)
        keep.insert(size.getDefiningOp());
      root.replaceUsesWithIf(device.getMemref(), [&](OpOperand &use) {
        return !keep.contains(use.getOwner());
      });
      if (written && isArgument)
        copyBack.push_back({root, device.getMemref()});
      deviceBuffers.push_back(device.getMemref());
      continue;
    }
    if (auto alloc = root.getDefiningOp<memref::AllocOp>()) {
      // A temporary lives on the device only.
      if (alloc->getBlock() != &entry)
        return alloc.emitOpError("is inside host control flow; "
                                 "qat-gpu-device-buffers needs temporaries "
                                 "in the function's entry block");
      b.setInsertionPoint(alloc);
      gpu::AllocOp device =
          createDeviceBuffer(b, loc, type, alloc.getDynamicSizes());
      for (Operation *user : llvm::make_early_inc_range(alloc->getUsers()))
        if (isa<memref::DeallocOp>(user))
          user->erase();
      alloc.replaceAllUsesWith(device.getMemref());
      alloc.erase();
      deviceBuffers.push_back(device.getMemref());
      continue;
    }
    Operation *producer = root.getDefiningOp();
    return emitError(loc, "qat-gpu-device-buffers: cannot give a GPU kernel "
                          "the buffer produced by '")
           << (producer ? producer->getName().getStringRef() : "a block")
           << "'";
  }

  // Copies between buffers that now live on the device.
  auto isDevice = [](Value v) {
    return getRootBuffer(v).getDefiningOp<gpu::AllocOp>() != nullptr;
  };
  SmallVector<memref::CopyOp> copies;
  func.walk([&](memref::CopyOp copy) { copies.push_back(copy); });
  for (memref::CopyOp copy : copies) {
    if (!isDevice(copy.getSource()) && !isDevice(copy.getTarget()))
      continue;
    if (!cast<MemRefType>(copy.getSource().getType()).getLayout().isIdentity() ||
        !cast<MemRefType>(copy.getTarget().getType()).getLayout().isIdentity())
      return copy.emitOpError("copies a strided view of a device buffer; "
                              "qat-gpu-pipeline expands those into kernels "
                              "first");
    b.setInsertionPoint(copy);
    createCopy(b, copy.getLoc(), copy.getTarget(), copy.getSource());
    copy.erase();
  }

  // Written arguments back to the caller, then every device buffer freed.
  SmallVector<Operation *> exits;
  func.walk([&](func::ReturnOp ret) { exits.push_back(ret); });
  for (Operation *exit : exits) {
    b.setInsertionPoint(exit);
    for (auto [host, device] : copyBack)
      createCopy(b, exit->getLoc(), host, device);
    for (Value device : llvm::reverse(deviceBuffers))
      gpu::DeallocOp::create(b, exit->getLoc(), /*asyncToken=*/Type(),
                             /*asyncDependencies=*/ValueRange(), device);
  }

  // Nothing else on the host may touch device memory.
  WalkResult result = func.walk([&](Operation *op) {
    if (isHostSafe(op) || op->getParentOfType<gpu::GPUFuncOp>())
      return WalkResult::advance();
    for (Value operand : op->getOperands())
      if (isa<MemRefType>(operand.getType()) && isDevice(operand)) {
        op->emitOpError("would read or write GPU memory on the host: it was "
                        "not mapped to a GPU kernel");
        return WalkResult::interrupt();
      }
    return WalkResult::advance();
  });
  return failure(result.wasInterrupted());
}

namespace {

struct GpuDeviceBuffersPass
    : public qat::impl::GpuDeviceBuffersBase<GpuDeviceBuffersPass> {
  using Base::Base;
  void runOnOperation() override {
    if (residentConstants && failed(makeConstantsResident(getOperation())))
      return signalPassFailure();
    for (auto func : getOperation().getOps<func::FuncOp>())
      if (!func.isExternal() && failed(placeBuffersOnDevice(func)))
        return signalPassFailure();
  }
};

} // namespace

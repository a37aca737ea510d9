//===- Pipelines.cpp - qat-mlir pass pipelines ----------------------------===//
//
// Part of qat-mlir.
//
//===----------------------------------------------------------------------===//

#include "qat/Pipelines/Pipelines.h"

#include <thread>

#include "mlir/Conversion/Passes.h"
#include "mlir/Conversion/SCFToGPU/SCFToGPUPass.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/Pipelines/Passes.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

#include "qat/Codegen/CPU/Passes.h"
#include "qat/Codegen/GPU/Passes.h"
#include "qat/Conversion/Passes.h"
#include "qat/Dialect/Qat/Transforms/Passes.h"
#include "qat/Training/Passes.h"

using namespace mlir;
using namespace mlir::qat;

void mlir::qat::buildInstrumentPipeline(
    OpPassManager &pm, const InstrumentPipelineOptions &options) {
  OpPassManager &graph = pm.nest<func::FuncOp>();
  graph.addPass(createSinkLayerReshapes());
  if (options.foldBatchNorm)
    graph.addPass(createFoldBatchNorm());
  InstrumentOptions instrument;
  instrument.weightBits = options.layers.weightBits;
  instrument.actBits = options.layers.actBits;
  instrument.perChannel = options.layers.perChannel;
  instrument.symmetricActivations = options.layers.symmetricActivations;
  instrument.rounding = options.layers.rounding;
  instrument.skipFirstLast = options.skipFirstLast;
  instrument.lastActBits = options.lastActBits;
  instrument.configFile = options.config;
  instrument.reportFile = options.report;
  instrument.dryRun = options.dryRun;
  pm.addPass(createInstrument(instrument));
}

void mlir::qat::buildTrainPipeline(OpPassManager &pm,
                                   const TrainStepOptions &options) {
  BuildTrainStepOptions pass;
  assignTrainStepOptions(pass, options);
  pm.addPass(createBuildTrainStep(pass));
}

void mlir::qat::buildDeployPipeline(OpPassManager &pm,
                                    const DeployPipelineOptions &options) {
  ConvertToIntegerOptions convert;
  convert.packInt4 = options.packInt4;
  convert.allowCollapsedRanges = options.allowCollapsedRanges;
  OpPassManager &functions = pm.nest<func::FuncOp>();
  functions.addPass(createConvertToInteger(convert));
  if (options.tabulate)
    functions.addPass(createTabulateCodes());
  pm.addPass(createCanonicalizerPass());
}

namespace {

/// qat ops to linalg on tensors, with chains of elementwise ops (bias,
/// activation, fake quantization) fused into one loop nest; matmuls and
/// convolutions stay named for their kernels. Every target starts here.
void addLinalgOnTensors(OpPassManager &pm) {
  pm.addPass(createConvertQatToLinalg());
  pm.addNestedPass<func::FuncOp>(createDecomposeAggregates());
  pm.addNestedPass<func::FuncOp>(createConvertElementwiseToLinalgPass());
  pm.addNestedPass<func::FuncOp>(createFuseElementwise());
}

/// Tensors to buffers with the runtime ABI: entry points never write through
/// their arguments, arguments and results have identity layouts, and results
/// are out-parameters the caller allocates; with `deallocate`, temporaries
/// are freed by the ownership-based deallocation pipeline.
void addBufferization(OpPassManager &pm, bool deallocate) {
  pm.addPass(createProtectArguments());
  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
  bufferization::BufferResultsToOutParamsPassOptions outParams;
  outParams.hoistStaticAllocs = true;
  outParams.modifyPublicFunctions = true;
  pm.addPass(bufferization::createBufferResultsToOutParamsPass(outParams));
  // A chunk of an scf.forall bufferizes to a copy of its subview onto an
  // identical subview of the same buffer; CSE makes them one value and the
  // canonicalizer erases the copy to itself (no memmove of the chunk). It
  // also folds reshapes of reshapes, which leaves results computed in an
  // allocation and copied out: qat-elide-result-copies computes them in
  // their out-parameters.
  pm.addPass(createCSEPass());
  pm.addPass(createCanonicalizerPass());
  pm.addNestedPass<func::FuncOp>(createElideResultCopies());
  if (deallocate)
    bufferization::buildBufferDeallocationPipeline(pm);
}

/// Loops, vectors and everything else to the LLVM dialect, with no calls
/// into MLIR's runner libraries from compiled code.
void addHostLowering(OpPassManager &pm) {
  pm.addNestedPass<func::FuncOp>(createExpandStridedCopies());
  pm.addNestedPass<func::FuncOp>(createConvertLinalgToLoopsPass());
  pm.addNestedPass<func::FuncOp>(createConvertVectorToSCFPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createSCFToControlFlowPass());
  // erf and integer powers have no LLVM lowering of their own.
  pm.addNestedPass<func::FuncOp>(createExpandMath());
  pm.addPass(createConvertMathToFuncs());
  pm.addPass(createConvertVectorToLLVMPass());
  pm.addPass(createConvertToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

} // namespace

void mlir::qat::buildCpuPipeline(OpPassManager &pm,
                                 const CpuPipelineOptions &options) {
  addLinalgOnTensors(pm);
  // Float matmuls get register-blocked vector code; other contractions
  // contiguous innermost loops, which LLVM vectorizes.
  pm.addNestedPass<func::FuncOp>(createBatchMatmulToMatmul());
  ConvToMatmulOptions convs;
  convs.implicitGemm = VectorizeMatmulOptions().implicitGemm;
  pm.addNestedPass<func::FuncOp>(createConvToMatmul(convs));
  // Each matmul shape's kernel once (training programs repeat them).
  pm.addPass(createOutlineKernels());
  if (options.vnni) {
    X86VnniMatmulOptions vnni;
    vnni.parallel = options.parallel;
    vnni.sparseWeights = options.sparseWeights;
    pm.addNestedPass<func::FuncOp>(createX86VnniMatmul(vnni));
  }
  VectorizeMatmulOptions vectorize;
  vectorize.parallel = options.parallel;
  pm.addNestedPass<func::FuncOp>(createVectorizeMatmul(vectorize));
  VectorizeDepthwiseOptions depthwise;
  depthwise.parallel = options.parallel;
  depthwise.vnni = options.vnni;
  pm.addNestedPass<func::FuncOp>(createVectorizeDepthwise(depthwise));
  pm.addNestedPass<func::FuncOp>(createInterchangeLoops());
  pm.addNestedPass<func::FuncOp>(createSplitReductions());
  if (options.parallel) {
    ParallelizeLoopsOptions parallelize;
    parallelize.threads =
        options.chunks > 0
            ? options.chunks
            : std::max<int64_t>(2, std::thread::hardware_concurrency());
    pm.addNestedPass<func::FuncOp>(createParallelizeLoops(parallelize));
  }
  pm.addNestedPass<func::FuncOp>(createVectorizeRows());

  addBufferization(pm, /*deallocate=*/true);

  pm.addNestedPass<func::FuncOp>(createLowerHighMultiply());
  if (options.vnni)
    pm.addNestedPass<func::FuncOp>(createX86LowerVnniDot());
  if (options.parallel) {
    // scf.forall -> scf.parallel -> an OpenMP worksharing loop.
    pm.addNestedPass<func::FuncOp>(createForallToParallelLoopPass());
    pm.addPass(createOutlineParallelLoops());
    pm.addPass(createConvertSCFToOpenMPPass());
    // Inlines the memref.alloca_scope the conversion wraps the body in (it
    // holds no allocas), before scf-to-cf gives that body several blocks.
    pm.addPass(createCanonicalizerPass());
  }
  // Last before the loops lower: the kernels above may have moved a use
  // (a fused epilogue computes the matmul at the epilogue's place).
  pm.addNestedPass<func::FuncOp>(createFreeAfterLastUse());
  addHostLowering(pm);
}

std::string mlir::qat::getPtxFeatures(StringRef arch) {
  // PTX 8.0 (CUDA 12.0 drivers) covers both; sm_90 needs at least 7.8.
  if (arch == "sm_80" || arch == "sm_86" || arch == "sm_89" || arch == "sm_90")
    return "+ptx80";
  return "";
}

void mlir::qat::buildGpuPipeline(OpPassManager &pm,
                                 const GpuPipelineOptions &options) {
  addLinalgOnTensors(pm);
  // Convolutions become an im2col copy and a matmul, which the tensor-core
  // kernel reads in place (implicit GEMM); the patch matrices of those it
  // cannot fit the GPU's memory up to 1 GiB (the CPU's default is 64 MiB).
  ConvToMatmulOptions im2col;
  im2col.maxIm2colBytes = int64_t(1) << 30;
  pm.addNestedPass<func::FuncOp>(createConvToMatmul(im2col));
  // Temporaries are freed by qat-gpu-device-buffers (device memory) or, on
  // the host, by the deallocation pipeline.
  addBufferization(pm, /*deallocate=*/options.emulateOnHost);
  // Strided copies become linalg.copy, which is mapped like any other op;
  // contiguous ones become gpu.memcpy (qat-gpu-device-buffers).
  pm.addNestedPass<func::FuncOp>(createExpandStridedCopies(
      ExpandStridedCopiesOptions{/*vectorize=*/false}));
  // Int8 matmuls on tensor cores (dp4a below 16 rows) with their
  // requantization fused; emulated by loops on the host.
  GpuTensorCoreMatmulOptions tensorCores;
  tensorCores.emulateOnHost = options.emulateOnHost;
  pm.addNestedPass<func::FuncOp>(createGpuTensorCoreMatmul(tensorCores));
  GpuMapLoopsOptions map;
  map.threadsPerBlock = options.threadsPerBlock;
  pm.addNestedPass<func::FuncOp>(createGpuMapLoops(map));
  if (options.emulateOnHost) {
    pm.addNestedPass<func::FuncOp>(createFreeAfterLastUse());
    addHostLowering(pm);
    return;
  }
  pm.addNestedPass<func::FuncOp>(createConvertParallelLoopToGpuPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createCanonicalizerPass());
  // Constants into the kernels (known loop bounds and strides), not passed
  // as parameters.
  pm.addPass(createGpuLaunchSinkIndexComputationsPass());
  pm.addPass(createGpuKernelOutliningPass());
  pm.addPass(createGpuMergeKernelModules());
  pm.addPass(createGpuDeviceBuffers());
  pm.addNestedPass<func::FuncOp>(createGpuAsyncRegionPass());
  gpu::GPUToNVVMPipelineOptions nvvm;
  nvvm.cubinChip = options.arch;
  nvvm.cubinFeatures = getPtxFeatures(options.arch);
  nvvm.cubinFormat = options.format;
  gpu::buildLowerToNVVMPassPipeline(pm, nvvm);
}

//===----------------------------------------------------------------------===//
// Registration: each pipeline's options on the command line, with the
// defaults of the option structs above
//===----------------------------------------------------------------------===//

namespace {

struct InstrumentCommandLine
    : public PassPipelineOptions<InstrumentCommandLine> {
  InstrumentPipelineOptions defaults;
  Option<unsigned> weightBits{*this, "weight-bits",
                              llvm::cl::desc("bit width of weights (2-16)"),
                              llvm::cl::init(defaults.layers.weightBits)};
  Option<unsigned> actBits{*this, "act-bits",
                           llvm::cl::desc("bit width of activations (2-16)"),
                           llvm::cl::init(defaults.layers.actBits)};
  Option<bool> perChannel{
      *this, "per-channel",
      llvm::cl::desc("quantize weights per output channel (else per tensor)"),
      llvm::cl::init(defaults.layers.perChannel)};
  Option<bool> symmetricActivations{
      *this, "symmetric-activations",
      llvm::cl::desc("signed activations with a zero point of 0"),
      llvm::cl::init(defaults.layers.symmetricActivations)};
  Option<RoundingMode> rounding{
      *this, "rounding",
      llvm::cl::desc("rounding mode: half_to_even, half_away_from_zero, "
                     "half_up, toward_zero"),
      llvm::cl::init(defaults.layers.rounding)};
  Option<bool> skipFirstLast{
      *this, "skip-first-last",
      llvm::cl::desc("leave the first and the last layer in float"),
      llvm::cl::init(defaults.skipFirstLast)};
  Option<unsigned> lastActBits{
      *this, "last-act-bits",
      llvm::cl::desc("bit width of the last layer's output, a classifier's "
                     "logits (0: act-bits)"),
      llvm::cl::init(defaults.lastActBits)};
  Option<std::string> config{
      *this, "config",
      llvm::cl::desc("JSON file with global settings and per-layer overrides"),
      llvm::cl::init(defaults.config)};
  Option<bool> foldBatchNorm{
      *this, "fold-batchnorm",
      llvm::cl::desc("fold inference batch norm into the layers first"),
      llvm::cl::init(defaults.foldBatchNorm)};
  Option<std::string> report{
      *this, "report",
      llvm::cl::desc("write the plan to this file ('-' for stdout)"),
      llvm::cl::init(defaults.report)};
  Option<bool> dryRun{*this, "dry-run",
                      llvm::cl::desc("only plan: leave the IR unchanged"),
                      llvm::cl::init(defaults.dryRun)};

  InstrumentPipelineOptions get() const {
    InstrumentPipelineOptions options;
    options.layers.weightBits = weightBits;
    options.layers.actBits = actBits;
    options.layers.perChannel = perChannel;
    options.layers.symmetricActivations = symmetricActivations;
    options.layers.rounding = rounding;
    options.skipFirstLast = skipFirstLast;
    options.lastActBits = lastActBits;
    options.config = config;
    options.foldBatchNorm = foldBatchNorm;
    options.report = report;
    options.dryRun = dryRun;
    return options;
  }
};

struct TrainCommandLine : public PassPipelineOptions<TrainCommandLine> {
  TrainStepOptions defaults;
  Option<std::string> forward{
      *this, "forward",
      llvm::cl::desc("the forward function (default: the only function "
                     "with layers)"),
      llvm::cl::init(defaults.forward)};
  Option<Loss> loss{*this, "loss",
                    llvm::cl::desc("cross-entropy (integer labels) or mse"),
                    llvm::cl::init(defaults.loss)};
  Option<Optimizer> optimizer{
      *this, "optimizer",
      llvm::cl::desc("sgd (momentum, weight decay) or adam"),
      llvm::cl::init(defaults.optimizer)};
  Option<double> momentum{*this, "momentum", llvm::cl::desc("SGD momentum"),
                          llvm::cl::init(defaults.momentum)};
  Option<double> weightDecay{
      *this, "weight-decay",
      llvm::cl::desc("L2 weight decay added to the gradients"),
      llvm::cl::init(defaults.weightDecay)};
  Option<double> beta1{*this, "beta1", llvm::cl::desc("Adam beta1"),
                       llvm::cl::init(defaults.beta1)};
  Option<double> beta2{*this, "beta2", llvm::cl::desc("Adam beta2"),
                       llvm::cl::init(defaults.beta2)};
  Option<double> epsilon{*this, "epsilon", llvm::cl::desc("Adam epsilon"),
                         llvm::cl::init(defaults.epsilon)};
  Option<RangeLearning> rangeLearning{
      *this, "range-learning",
      llvm::cl::desc("lsq (scales trained by gradient), ema (moving-average "
                     "min/max observers) or none (scales are inputs)"),
      llvm::cl::init(defaults.rangeLearning)};
  Option<double> averagingConstant{
      *this, "averaging-constant",
      llvm::cl::desc("ema: weight of the current batch in the moving average"),
      llvm::cl::init(defaults.averagingConstant)};
  Option<int64_t> freezeObserversAfter{
      *this, "freeze-observers-after",
      llvm::cl::desc("ema: stop updating activation ranges after this step "
                     "(-1: never)"),
      llvm::cl::init(defaults.freezeObserversAfter)};
  Option<int64_t> batchShards{
      *this, "batch-shards",
      llvm::cl::desc("micro-batches per update (data-parallel ranks x "
                     "accumulation): LSQ's activation gradient scale counts "
                     "the global batch"),
      llvm::cl::init(defaults.batchShards)};
  Option<int64_t> pruneBegin{
      *this, "prune-begin",
      llvm::cl::desc("sparsity schedule: the first step masks are "
                     "recomputed at"),
      llvm::cl::init(defaults.pruneBegin)};
  Option<int64_t> pruneEnd{
      *this, "prune-end",
      llvm::cl::desc("sparsity schedule: the last step masks are recomputed "
                     "at, then frozen (-1: no schedule)"),
      llvm::cl::init(defaults.pruneEnd)};
  Option<int64_t> pruneEvery{
      *this, "prune-every",
      llvm::cl::desc("sparsity schedule: steps between mask recomputations"),
      llvm::cl::init(defaults.pruneEvery)};
  Option<double> pruneInitialSparsity{
      *this, "prune-initial-sparsity",
      llvm::cl::desc("sparsity schedule: the initial sparsity s_i"),
      llvm::cl::init(defaults.pruneInitialSparsity)};
  Option<std::string> teacher{
      *this, "teacher",
      llvm::cl::desc("distillation: an MLIR file whose function (the "
                     "teacher's frozen forward) gives the target logits"),
      llvm::cl::init(defaults.teacher)};
  Option<double> distillTemperature{
      *this, "distill-temperature",
      llvm::cl::desc("distillation: the softmax temperature T"),
      llvm::cl::init(defaults.distillTemperature)};
  Option<double> distillWeight{
      *this, "distill-weight",
      llvm::cl::desc("distillation: the weight of T^2 KL against the "
                     "cross-entropy's 1 - weight"),
      llvm::cl::init(defaults.distillWeight)};
  ListOption<std::string> functions{
      *this, "functions",
      llvm::cl::desc("the generated functions to keep (default: all; "
                     "calibration needs calibrate,qparams)")};
  ListOption<std::string> omitFunctions{
      *this, "omit-functions",
      llvm::cl::desc("the generated functions to leave out, where generated "
                     "(a single-process trainer: gradients,train_gradients,"
                     "apply_update,advance_masks)")};

  TrainStepOptions get() const {
    TrainStepOptions options;
    assignTrainStepOptions(options, *this);
    return options;
  }
};

struct DeployCommandLine : public PassPipelineOptions<DeployCommandLine> {
  DeployPipelineOptions defaults;
  Option<bool> packInt4{
      *this, "pack-int4",
      llvm::cl::desc("store weight codes of 4 bits or fewer two per byte "
                     "(2 bits: four)"),
      llvm::cl::init(defaults.packInt4)};
  Option<bool> allowCollapsedRanges{
      *this, "allow-collapsed-ranges",
      llvm::cl::desc("convert layers whose activation range collapsed to a "
                     "point instead of failing"),
      llvm::cl::init(defaults.allowCollapsedRanges)};
  Option<bool> tabulate{
      *this, "tabulate",
      llvm::cl::desc("elementwise functions of one int8 tensor as 256-entry "
                     "tables (qat-tabulate-codes)"),
      llvm::cl::init(defaults.tabulate)};

  DeployPipelineOptions get() const {
    DeployPipelineOptions options;
    options.packInt4 = packInt4;
    options.allowCollapsedRanges = allowCollapsedRanges;
    options.tabulate = tabulate;
    return options;
  }
};

struct CpuCommandLine : public PassPipelineOptions<CpuCommandLine> {
  CpuPipelineOptions defaults;
  Option<bool> vnni{*this, "vnni",
                    llvm::cl::desc("use AVX-512 VNNI for int8 matmuls"),
                    llvm::cl::init(defaults.vnni)};
  Option<bool> parallel{
      *this, "parallel",
      llvm::cl::desc("run large matmuls on OpenMP threads (needs libomp)"),
      llvm::cl::init(defaults.parallel)};
  Option<int64_t> chunks{
      *this, "chunks",
      llvm::cl::desc("with parallel, split other large linalg ops into this "
                     "many chunks (0: the hardware threads, at least 2)"),
      llvm::cl::init(defaults.chunks)};
  Option<bool> sparseWeights{
      *this, "sparse-weights",
      llvm::cl::desc("compressed pruned weights and block-sparse kernels by "
                     "the cost rule (false: always dense)"),
      llvm::cl::init(defaults.sparseWeights)};

  CpuPipelineOptions get() const {
    CpuPipelineOptions options;
    options.vnni = vnni;
    options.parallel = parallel;
    options.chunks = chunks;
    options.sparseWeights = sparseWeights;
    return options;
  }
};

struct GpuCommandLine : public PassPipelineOptions<GpuCommandLine> {
  GpuPipelineOptions defaults;
  Option<std::string> arch{
      *this, "gpu-arch", llvm::cl::desc("NVIDIA architecture: sm_80 or sm_90"),
      llvm::cl::init(defaults.arch)};
  Option<std::string> format{
      *this, "gpu-format",
      llvm::cl::desc("device code: isa (PTX) or bin (cubin, runs ptxas)"),
      llvm::cl::init(defaults.format)};
  Option<int64_t> threadsPerBlock{
      *this, "threads-per-block",
      llvm::cl::desc("threads per block of the mapped loops"),
      llvm::cl::init(defaults.threadsPerBlock)};
  Option<bool> emulateOnHost{
      *this, "emulate-on-host",
      llvm::cl::desc("lower the mapped loop nest for the CPU instead of the "
                     "GPU (tests)"),
      llvm::cl::init(defaults.emulateOnHost)};

  GpuPipelineOptions get() const {
    GpuPipelineOptions options;
    options.arch = arch;
    options.format = format;
    options.threadsPerBlock = threadsPerBlock;
    options.emulateOnHost = emulateOnHost;
    return options;
  }
};

} // namespace

void mlir::qat::registerQatPipelines() {
  PassPipelineRegistration<InstrumentCommandLine>(
      "qat-instrument-pipeline",
      "Fold batch norm and insert fake-quant ops (a float graph to a QAT "
      "graph)",
      [](OpPassManager &pm, const InstrumentCommandLine &commandLine) {
        buildInstrumentPipeline(pm, commandLine.get());
      });
  PassPipelineRegistration<TrainCommandLine>(
      "qat-train-pipeline",
      "Generate the compiled training step of a forward function",
      [](OpPassManager &pm, const TrainCommandLine &commandLine) {
        buildTrainPipeline(pm, commandLine.get());
      });
  PassPipelineRegistration<DeployCommandLine>(
      "qat-deploy-pipeline",
      "Convert a frozen QAT module to integer linalg, and clean up",
      [](OpPassManager &pm, const DeployCommandLine &commandLine) {
        buildDeployPipeline(pm, commandLine.get());
      });
  PassPipelineRegistration<CpuCommandLine>(
      "qat-cpu-pipeline",
      "Lower qat ops and linalg on tensors to the LLVM dialect",
      [](OpPassManager &pm, const CpuCommandLine &commandLine) {
        buildCpuPipeline(pm, commandLine.get());
      });
  PassPipelineRegistration<GpuCommandLine>(
      "qat-gpu-pipeline",
      "Lower qat ops and linalg on tensors to NVIDIA GPU kernels (PTX) and "
      "host code in the LLVM dialect",
      [](OpPassManager &pm, const GpuCommandLine &commandLine) {
        buildGpuPipeline(pm, commandLine.get());
      });
}

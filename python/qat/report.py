"""The demo's report: report.md with the table, and PNG plots (training
curves, accuracy by bit width, per-layer quantization error) drawn with
matplotlib (Agg, no display needed)."""

import math
import os


def write(out_dir: str, result, plots: bool = True) -> str:
    from qat.demo import format_table
    images = _plots(out_dir, result) if plots else []
    lines = ["# qat-mlir demo report", "",
             "Every model below was trained, converted and compiled by "
             "qat-mlir and evaluated through its C runtime.", "",
             format_table(result.rows), "",
             "Weights: as stored in the library (fp32 4 bytes per value; "
             "integer weights one byte per code, 4-bit codes two per byte and "
             "2-bit ones four, unpacked on every call; biases int32). Latency: batch 1, "
             "median of 200 calls from Python (about 13 us of it is the "
             "call itself). Mismatches: test "
             "images whose predicted class differs between the frozen QAT "
             "simulation and the deployed integer program (the fast "
             "simulation rounds in binary32 where deployment rounds in "
             "integers; `qat-faithful` removes the difference). Sparsity: "
             "the pruned rows' fraction of layer weights that are exactly 0. "
             "Their weights column counts the codes dense; the library "
             "stores them as the code generator's cost rule chooses: 2:4 as "
             "values and 2-bit positions (62.5%), 4x16 blocks as the nonzero "
             "tiles, which the block-sparse kernel skips; unstructured "
             "sparsity stays dense (docs/Pruning.md).", ""]
    sqnr = result.layer_sqnr
    if sqnr:
        lines += ["## Per-layer quantization error", "",
                  "SQNR (dB) of each layer's quantized output against the same "
                  "network and weights with 16-bit fake quantization, on "
                  "test images (higher is better):", ""]
        networks = list(dict.fromkeys(r.network for r in result.rows))
        for network in networks:
            models = {k: v for k, v in sqnr.items()
                      if k.startswith(network + " ")}
            layers = list(dict.fromkeys(l for v in models.values() for l in v))
            if not layers:
                continue
            lines.append("| model | " + " | ".join(layers) + " |")
            lines.append("|---|" + "---|" * len(layers))
            for name, per_layer in models.items():
                cells = [f"{per_layer[l]:.1f}" if l in per_layer and
                         math.isfinite(per_layer[l]) else "-" for l in layers]
                lines.append(f"| {name} | " + " | ".join(cells) + " |")
            lines.append("")
    for network, found in result.searches.items():
        lines += [f"## Mixed precision: {network}", "",
                  "Weight bits per layer chosen by `qat.search` (measured "
                  "sensitivity; docs/Training.md) under "
                  f"{found.budget / 1024:.1f} KiB of weights: " +
                  ", ".join(f"{n} {b}" for n, b in found.bits.items()) +
                  f" (the QAT mixed row). Sensitivities and the front: "
                  f"[{found.folder}/search.md]({found.folder}/search.md).",
                  ""]
        if plots:
            lines += [f"![Pareto front, {network}]({found.folder}/pareto.png)",
                      ""]
    for title, image in images:
        lines += [f"## {title}", "", f"![{title}]({image})", ""]
    lines.append(f"Total time: {result.seconds:.0f} s.")
    from qat.pipeline import replacing
    path = os.path.join(out_dir, "report.md")
    with replacing(path) as f:
        f.write("\n".join(lines) + "\n")
    return path


def _save(fig, out_dir, name, title, images):
    """`fig` laid out, written as PNG whole or not at all (a temporary file
    renamed), closed, and listed in `images` under `title`."""
    import matplotlib.pyplot as plt
    from qat.pipeline import replacing
    fig.tight_layout()
    with replacing(os.path.join(out_dir, name), "wb") as f:
        fig.savefig(f, format="png", dpi=100)
    plt.close(fig)
    images.append((title, name))


def _plots(out_dir, result):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    images = []

    fig, ax = plt.subplots(figsize=(7, 4))
    for name, history in result.histories.items():
        if history:
            steps, losses = zip(*history)
            ax.plot(steps, losses, label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (cross-entropy)")
    ax.set_yscale("log")
    ax.legend()
    ax.set_title("Training curves")
    _save(fig, out_dir, "training_curves.png", "Training curves", images)

    networks = list(dict.fromkeys(r.network for r in result.rows))
    variants = list(dict.fromkeys(r.variant for r in result.rows))
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.8 / max(len(variants), 1)
    for i, variant in enumerate(variants):
        accs = [next((100 * r.accuracy for r in result.rows if r.network == n
                      and r.variant == variant), 0) for n in networks]
        ax.bar([j + i * width for j in range(len(networks))], accs, width,
               label=variant)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(networks))])
    ax.set_xticklabels(networks)
    lowest = min(100 * r.accuracy for r in result.rows)
    ax.set_ylim(max(0, lowest - 5), 100)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Accuracy by bit width (weights/activations)")
    ax.legend(fontsize=8)
    _save(fig, out_dir, "accuracy_by_bits.png", "Accuracy by bit width",
          images)

    pruned = [r for r in result.rows if r.sparsity is not None]
    if pruned:
        fig, ax = plt.subplots(figsize=(7, 4))
        for network in networks:
            dense = next((r for r in result.rows if r.network == network
                          and r.variant == "QAT int8"), None)
            # Magnitude pruning as a line from dense; the structured
            # patterns (N:M, blocks) as marks of their own.
            mine = [(r.sparsity, r.accuracy, r.variant.split()[-1])
                    for r in pruned if r.network == network]

            def structured(point):
                return ":" in point[2] or "x" in point[2]
            line_points = sorted(
                ([(0.0, dense.accuracy, "dense")] if dense else []) +
                [p for p in mine if not structured(p)])
            nm = [p for p in mine if structured(p)]
            if not line_points and not nm:
                continue
            line, = ax.plot([100 * s for s, _, _ in line_points],
                            [100 * a for _, a, _ in line_points], marker="o",
                            label=f"{network}: magnitude")
            if nm:
                ax.plot([100 * s for s, _, _ in nm],
                        [100 * a for _, a, _ in nm],
                        linestyle="none", marker="s", color=line.get_color(),
                        label=f"{network}: N:M, blocks")
            for s, a, label in line_points + nm:
                ax.annotate(label, (100 * s, 100 * a), fontsize=8,
                            textcoords="offset points", xytext=(4, 4),
                            color=line.get_color())
        ax.set_xlabel("weights pruned (%)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title("Accuracy against sparsity (int8 QAT, deployed)")
        ax.legend(fontsize=8)
        _save(fig, out_dir, "accuracy_by_sparsity.png",
              "Accuracy against sparsity", images)

    if result.layer_sqnr:
        fig, axes = plt.subplots(1, len(networks), figsize=(5 * len(networks),
                                                             4), squeeze=False)
        for ax, network in zip(axes[0], networks):
            for name, per_layer in result.layer_sqnr.items():
                if not name.startswith(network + " "):
                    continue
                layers = list(per_layer)
                ax.plot(range(len(layers)),
                        [min(per_layer[l], 80) for l in layers], marker="o",
                        label=name[len(network) + 1:])
                ax.set_xticks(range(len(layers)))
                ax.set_xticklabels(layers, rotation=20, fontsize=8)
            ax.set_title(network)
            ax.set_ylabel("SQNR (dB), higher is better")
            ax.legend(fontsize=8)
        fig.suptitle("Per-layer quantization error (vs 16-bit, same weights)")
        _save(fig, out_dir, "layer_error.png", "Per-layer quantization error",
              images)
    return images

#!/usr/bin/env python3
"""Checks that dependencies point one way (docs/Architecture.md).

Every library of lib/ has a layer; a library may link, and its sources and
public headers may include, only libraries of lower layers (and itself).
Reads the LINK_LIBS of each lib/**/CMakeLists.txt and the `#include "qat/..."`
lines of lib/ and include/; prints each violation and exits 1 if any, else
prints the layers and exits 0.

    scripts/check_layering.py [ROOT]
"""

import os
import re
import sys

# Lowest first. A library's layer number is its index here.
LAYERS = [
    ["QatSupport"],
    ["MLIRQat"],
    ["MLIRQatAnalysis", "QatUtils", "QatFrontendONNX"],
    ["MLIRQatTransforms", "QatTraining", "QatToLinalg", "QatToInteger"],
    ["QatCodegenCPU", "QatCodegenGPU"],
    ["QatPipelines"],
    ["QatCompiler"],
]
RANK = {lib: i for i, layer in enumerate(LAYERS) for lib in layer}

# Which library owns a header under include/qat/ (longest prefix wins) and
# a source folder under lib/.
HEADERS = {
    "qat/Support/": "QatSupport",
    "qat/Dialect/Qat/IR/": "MLIRQat",
    "qat/Dialect/Qat/Analysis/": "MLIRQatAnalysis",
    "qat/Utils/": "QatUtils",
    "qat/Frontend/ONNX/": "QatFrontendONNX",
    "qat/Dialect/Qat/Transforms/": "MLIRQatTransforms",
    "qat/Training/": "QatTraining",
    "qat/Conversion/QatToLinalg/": "QatToLinalg",
    "qat/Conversion/QatToInteger/": "QatToInteger",
    "qat/Codegen/CPU/": "QatCodegenCPU",
    "qat/Codegen/GPU/": "QatCodegenGPU",
    "qat/Pipelines/": "QatPipelines",
    "qat/Compiler/": "QatCompiler",
}
# Conversion/Passes.h declares the passes of both conversion libraries.
SHARED = {"qat/Conversion/Passes.h": {"QatToLinalg", "QatToInteger"},
          "qat/Conversion/Passes.h.inc": {"QatToLinalg", "QatToInteger"}}
SOURCES = {f"lib/{k[len('qat/'):]}": v for k, v in HEADERS.items()}


def owner(path, table):
    best = None
    for prefix, lib in table.items():
        if path.startswith(prefix) and (best is None or
                                        len(prefix) > len(best[0])):
            best = (prefix, lib)
    return best[1] if best else None


def link_libs(cmake_text):
    """{library: [its LINK_LIBS]} of the add_*_library calls in a file."""
    result = {}
    for call in re.finditer(r"add_mlir_(?:dialect_|conversion_)?library\("
                            r"(\w+)(.*?)\)", cmake_text, re.S):
        name, body = call.group(1), call.group(2)
        libs = []
        if "LINK_LIBS" in body:
            tail = body.split("LINK_LIBS", 1)[1].split()
            libs = [t for t in tail if t not in ("PUBLIC", "PRIVATE")]
        result[name] = libs
    return result


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(
        os.path.dirname(os.path.abspath(__file__)))
    errors = []
    seen = set()
    for folder, _, files in os.walk(os.path.join(root, "lib")):
        if "CMakeLists.txt" not in files:
            continue
        with open(os.path.join(folder, "CMakeLists.txt")) as f:
            for lib, deps in link_libs(f.read()).items():
                seen.add(lib)
                if lib not in RANK:
                    errors.append(f"{lib}: not in a layer of "
                                  "scripts/check_layering.py")
                    continue
                for dep in deps:
                    if dep in RANK and RANK[dep] >= RANK[lib]:
                        errors.append(f"{lib} (layer {RANK[lib]}) links {dep}"
                                      f" (layer {RANK[dep]})")
    for lib in RANK:
        if lib not in seen and lib != "QatSupport":
            errors.append(f"{lib}: listed in a layer but not built in lib/")

    include = re.compile(r'#include "(qat/[^"]+)"')
    for top in ("lib", "include"):
        for folder, _, files in os.walk(os.path.join(root, top)):
            for name in files:
                if not name.endswith((".cpp", ".h")):
                    continue
                path = os.path.join(folder, name)
                rel = os.path.relpath(path, root)
                if top == "lib":
                    lib = owner(rel, SOURCES)
                else:
                    lib = owner(rel[len("include/"):], HEADERS)
                    if rel[len("include/"):] in SHARED:
                        continue
                if lib is None:
                    continue  # InitAll.h: the tools' single include
                with open(path) as f:
                    for number, line in enumerate(f, 1):
                        m = include.match(line.strip())
                        if not m:
                            continue
                        target = m.group(1)
                        deps = SHARED.get(target) or {owner(target, HEADERS)}
                        for dep in deps:
                            if dep is None or dep == lib:
                                continue
                            if lib in SHARED.get(target, ()):
                                continue
                            if RANK[dep] >= RANK[lib]:
                                errors.append(
                                    f"{rel}:{number}: {lib} (layer "
                                    f"{RANK[lib]}) includes {target} of {dep}"
                                    f" (layer {RANK[dep]})")
    if errors:
        print("\n".join(errors))
        return 1
    for i, layer in enumerate(LAYERS):
        print(f"layer {i}: {', '.join(layer)}")
    print("every dependency points to a lower layer")
    return 0


if __name__ == "__main__":
    sys.exit(main())

{
  "targets": [
    {
      "target_name": "pathwise",
      "sources": [
        "native/addon/module.cc",
        "native/addon/errors.cc",
        "native/addon/convert.cc",
        "native/addon/options.cc",
        "native/addon/layers.cc",
        "native/addon/network.cc",
        "native/addon/watch.cc",
        "native/addon/baselines.cc",
        "native/addon/bench.cc",
        "native/core/ir/network.cc",
        "native/core/forward/forward.cc",
        "native/core/forward/conv_direct.cc",
        "native/core/vjp/vjp.cc",
        "native/core/vjp/conv_back_direct.cc",
        "native/core/vjp/conv_back_sparse.cc",
        "native/core/vjp/block_cache.cc",
        "native/core/path/select.cc",
        "native/core/path/explain.cc",
        "native/core/path/memory_budget.cc",
        "native/core/path/decompose.cc",
        "native/core/path/oneway.cc",
        "native/core/baselines/baselines.cc",
        "native/core/metrics/insdel.cc",
        "native/core/kernels/dispatch.cc",
        "native/core/kernels/portable.cc",
        "native/core/kernels/x86_v3.cc",
        "native/core/kernels/x86_v4.cc",
        "native/core/kernels/workspace.cc",
        "native/core/threads/pool.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++14", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=gnu++17", "-O3", "-fvisibility=hidden"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "gnu++17",
        "OTHER_CPLUSPLUSFLAGS": ["-O3", "-fvisibility=hidden"]
      },
      "msvs_settings": { "VCCLCompilerTool": { "ExceptionHandling": 1 } }
    }
  ]
}

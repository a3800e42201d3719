# check_plugin_exports.cmake: the emulated CUDA plug-in exports exactly the dynamic symbols the real
# libnemotron4j_cuda.so exports under native/src/exports_cuda_plugin.map: n4j_cuda_backend_ops and
# n4j_cuda_bench_timer, n4j_cuda_step_begin / _end / _stats and n4j_cuda_reserve_scratch (decode_graph.cu), nothing else (no emulator, runtime or C++ library symbol leaks out).
# Usage: cmake -DLIBRARY=path/to/libnemotron4j_cuda_emu.so -P check_plugin_exports.cmake
find_program(NM nm)
if(NOT NM)
  message(STATUS "check_plugin_exports: nm not found, skipped")
  return()
endif()
execute_process(COMMAND ${NM} -D --defined-only ${LIBRARY} OUTPUT_VARIABLE symbols RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "check_plugin_exports: nm failed on ${LIBRARY}")
endif()
string(REPLACE "\n" ";" lines "${symbols}")
set(exported)
foreach(line ${lines})
  if(line MATCHES "^[0-9a-fA-F]+ [A-Za-z] (.+)$")
    list(APPEND exported "${CMAKE_MATCH_1}")
  endif()
endforeach()
list(SORT exported)
set(expected n4j_cuda_backend_ops n4j_cuda_bench_timer n4j_cuda_reserve_scratch n4j_cuda_step_begin n4j_cuda_step_end
    n4j_cuda_step_stats)
if(NOT "${exported}" STREQUAL "${expected}")
  message(FATAL_ERROR "check_plugin_exports: ${LIBRARY} exports [${exported}], expected [${expected}]")
endif()
message(STATUS "check_plugin_exports: ${LIBRARY} exports ${exported}")

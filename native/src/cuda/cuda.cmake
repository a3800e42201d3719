# cuda.cmake: the parts of the CUDA backend build that belong to the CUDA backend itself, included by the top-level
# CMakeLists.txt inside its CUDA section, once the nemotron4j_cuda target exists.
#
#   - -lineinfo on the device code (compute-sanitizer and profilers then report source lines; no run-time cost)
#   - the CUDA tests (native/tests/cuda):
#       cuda_backend_test  cross-backend test of every op against the CPU reference, through the public C ABI
#                          (links libnemotron4j, which dlopens libnemotron4j_cuda from N4J_CUDA_LIBRARY);
#                          exits 77 = skipped in CTest when there is no CUDA device
#       cuda_graph_test    CUDA-graph decode steps replay what eager steps compute, bitwise (links the plug-in
#                          directly; exits 77 = skipped without a device)
#       cuda_op_bench      op-level benchmark (CUDA events), links the plug-in directly; not a CTest test
if(NOT TARGET nemotron4j_cuda)
  message(FATAL_ERROR "cuda.cmake: include it after the nemotron4j_cuda target is defined")
endif()

target_compile_options(nemotron4j_cuda PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-lineinfo>)

if(N4J_BUILD_TESTS)
  enable_testing()
  set(N4J_CUDA_TEST_DIR ${CMAKE_CURRENT_SOURCE_DIR}/native/tests/cuda)

  add_executable(cuda_backend_test ${N4J_CUDA_TEST_DIR}/cuda_backend_test.cpp)
  target_link_libraries(cuda_backend_test PRIVATE nemotron4j)
  target_compile_options(cuda_backend_test PRIVATE -Wall -Wextra -Wno-unused-parameter)
  add_dependencies(cuda_backend_test nemotron4j_cuda)
  add_test(NAME cuda_backend_test COMMAND cuda_backend_test)
  set_tests_properties(cuda_backend_test PROPERTIES
    SKIP_RETURN_CODE 77
    TIMEOUT 1200
    ENVIRONMENT "N4J_CUDA_LIBRARY=$<TARGET_FILE:nemotron4j_cuda>")

  add_executable(cuda_graph_test ${N4J_CUDA_TEST_DIR}/cuda_graph_test.cpp)
  target_include_directories(cuda_graph_test PRIVATE ${N4J_INCLUDE} ${N4J_SRC})
  target_link_libraries(cuda_graph_test PRIVATE nemotron4j_cuda)
  target_compile_options(cuda_graph_test PRIVATE -Wall -Wextra -Wno-unused-parameter)
  add_test(NAME cuda_graph_test COMMAND cuda_graph_test)
  set_tests_properties(cuda_graph_test PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600)

  add_executable(cuda_op_bench ${N4J_CUDA_TEST_DIR}/cuda_op_bench.cpp)
  target_include_directories(cuda_op_bench PRIVATE ${N4J_INCLUDE} ${N4J_SRC})
  target_link_libraries(cuda_op_bench PRIVATE nemotron4j_cuda)
  target_compile_options(cuda_op_bench PRIVATE -Wall -Wextra -Wno-unused-parameter)
endif()

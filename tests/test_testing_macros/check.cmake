# Run by CTest (tests/CMakeLists.txt): each test case of the `failing` program must fail, and print
# what its macro promises. -DBINARY=<the program>.
set(failures 0)
function(expect_failure case)
  execute_process(COMMAND ${BINARY} --test-case=${case} --no-colors OUTPUT_VARIABLE out ERROR_VARIABLE out
                  RESULT_VARIABLE rc)
  set(problems "")
  if(rc EQUAL 0)
    string(APPEND problems "\n  exited with 0, not a failure")
  endif()
  foreach(part IN LISTS ARGN)
    if(part MATCHES "^NOT ")
      string(SUBSTRING "${part}" 4 -1 part)
      string(FIND "${out}" "${part}" at)
      if(NOT at EQUAL -1)
        string(APPEND problems "\n  prints \"${part}\"")
      endif()
    else()
      string(FIND "${out}" "${part}" at)
      if(at EQUAL -1)
        string(APPEND problems "\n  does not print \"${part}\"")
      endif()
    endif()
  endforeach()
  if(problems)
    message(SEND_ERROR "test case '${case}':${problems}\n--- its output ---\n${out}")
  else()
    message(STATUS "test case '${case}' failed as expected:\n${out}")
  endif()
endfunction()

expect_failure(check
  "failing.cpp:35: ERROR: XG_CHECK_GRADCHECK(net, {input()}) failed:"
  "gradcheck FAILED: max relative error" "worst: input 0 at " "analytic" "numeric"
  "the test case went on after XG_CHECK_GRADCHECK")
expect_failure(require
  "failing.cpp:40: FATAL ERROR: XG_REQUIRE_GRADCHECK(net, {input()}, {.h = 1e-5}) failed:"
  "gradcheck FAILED: max relative error" "worst: input 0 at "
  "NOT not reached")
expect_failure(fast
  "XG_CHECK_GRADCHECK(net, {input()}, {.fast = true}) failed:"
  "random directions (fast mode); worst: input 0 along direction" "rerun without fast on a smaller input")
expect_failure(tape
  "XG_CHECK_GRADCHECK_TAPE(net, {input()}) failed:"
  "gradcheck_tape FAILED: node 1 'planted_square' (failing.cpp:31): relative error"
  "at input 0 " ": analytic " " numeric " "FAILED node 1 'planted_square'" "ok     node 2 'tanh'")
expect_failure(f32
  "XG_CHECK_GRADCHECK(net, {input().to(xg::f32)}) threw: gradcheck: input 0 [2,3] is f32")

# Runs COMMAND (its arguments separated by |) and checks that it fails (exit code not 0) and prints EXPECT (a regular
# expression) within the test's TIMEOUT: a rank's error must end every rank, never leave one waiting.
string(REPLACE "|" ";" COMMAND "${COMMAND}")
execute_process(COMMAND ${COMMAND} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(rc EQUAL 0)
  message(FATAL_ERROR "expected a failure, got exit code 0")
endif()
if(NOT "${out}${err}" MATCHES "${EXPECT}")
  message(FATAL_ERROR "the output does not match '${EXPECT}'")
endif()
message("failed as expected (exit code ${rc})")

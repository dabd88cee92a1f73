# Runs an example and checks what it printed: against EXPECTED_FILE exactly,
# and/or against each regular expression in EXPECT (a ;-list).
#   cmake -DEXE=... [-DARGS=...] [-DEXPECTED_FILE=...] [-DEXPECT=...] -P check_output.cmake
execute_process(COMMAND ${EXE} ${ARGS} OUTPUT_VARIABLE out RESULT_VARIABLE rc)
message("${out}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${EXE} exited with ${rc}")
endif()
if(EXPECTED_FILE)
  file(READ "${EXPECTED_FILE}" expected)
  if(NOT out STREQUAL expected)
    message(FATAL_ERROR "output differs from ${EXPECTED_FILE}")
  endif()
endif()
foreach(re IN LISTS EXPECT)
  if(NOT out MATCHES "${re}")
    message(FATAL_ERROR "output does not match '${re}'")
  endif()
endforeach()

# Builds TARGET in BUILD_DIR and passes if the build fails with a diagnostic
# matching every regular expression in EXPECT (a ;-list).
execute_process(COMMAND "${CMAKE_COMMAND}" --build "${BUILD_DIR}" --target "${TARGET}"
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
set(out "${out}${err}")
if(rc EQUAL 0)
  message(FATAL_ERROR "${TARGET} compiled, but must not")
endif()
foreach(re IN LISTS EXPECT)
  if(NOT out MATCHES "${re}")
    message(FATAL_ERROR "the diagnostic does not match '${re}':\n${out}")
  endif()
endforeach()
# Show the diagnostic's first lines, as a user would see them.
string(REGEX MATCH "[^\n]*(In instantiation|error)[^\n]*" first "${out}")
message("first line: ${first}")

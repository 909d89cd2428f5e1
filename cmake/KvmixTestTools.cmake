# Tests that need an external tool (clang's libFuzzer, dpkg-deb) are registered only where
# the tool is. Under CI (the environment variable CI set to anything but "", 0 or false) a
# missing tool would silently drop the test, so configuring fails instead, naming the fix.
#
# kvmix_missing_test_tool(<test> <what is missing> <how to fix it>)
function(kvmix_missing_test_tool test what fix)
  set(ci "$ENV{CI}")
  if(NOT ci STREQUAL "" AND NOT ci STREQUAL "0" AND NOT ci STREQUAL "false")
    message(FATAL_ERROR "KVmix: ${what}, so the test '${test}' cannot run, and CI is set (CI=${ci}). ${fix}")
  endif()
  message(WARNING "KVmix: ${what}; the test '${test}' is not registered. ${fix}")
endfunction()

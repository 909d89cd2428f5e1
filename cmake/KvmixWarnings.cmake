# kvmix_project_target(<target>): warnings (as errors when KVMIX_WERROR) for project code only.
function(kvmix_project_target target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align
      -Woverloaded-virtual -Wimplicit-fallthrough -Wformat=2>
    $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<BOOL:${KVMIX_WERROR}>>:-Werror>)
  # GCC 12 reports false -Wrestrict errors inside libstdc++'s std::string at -O3
  # (GCC bug 105329); the warning stays on for other compilers.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Wno-restrict>)
  endif()
endfunction()

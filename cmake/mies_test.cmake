# mies_add_test(name SOURCES a.cc b.cc LIBS mies_x ...): one GoogleTest binary registered with CTest.
# Test bodies get MIES_SHARED_DIR, MIES_SOURCE_DIR and MIES_BINARY_DIR as string macros.
function(mies_add_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest GTest::gmock GTest::gtest_main)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  target_compile_definitions(${name} PRIVATE
    MIES_SHARED_DIR="${MIES_SHARED_DIR}"
    MIES_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    MIES_BINARY_DIR="${PROJECT_BINARY_DIR}")
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  gtest_discover_tests(${name} DISCOVERY_MODE PRE_TEST
    PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS "${T_LABELS}")
endfunction()

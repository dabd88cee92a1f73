// main() for a Catch2 2.x without the Catch2WithMain library.
#define CATCH_CONFIG_MAIN
#include "catch.hpp"

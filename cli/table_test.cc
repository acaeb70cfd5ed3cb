#include "cli/table.h"

#include <gtest/gtest.h>

namespace tide::cli {
namespace {

TEST(TableTest, AlignsColumnsUnderHeader) {
  Table t({"NAME", "KIND", "READY"});
  t.AddRow({"users", "Service", "2"});
  t.AddRow({"send-message", "Function", "0"});
  EXPECT_EQ(t.Render(),
            "NAME           KIND       READY\n"
            "users          Service    2\n"
            "send-message   Function   0\n");
  EXPECT_EQ(t.rows(), 2u);
}

TEST(TableTest, NoTrailingBlanksAndMissingCells) {
  Table t({"A", "LONGER", "C"});
  t.AddRow({"xxxxxx"});
  t.AddRow({"1", "2", ""});
  std::string out = t.Render();
  EXPECT_EQ(out,
            "A        LONGER   C\n"
            "xxxxxx\n"
            "1        2\n");
}

TEST(TableTest, IndentAndUtf8Width) {
  Table t({"K", "V"});
  t.AddRow({"\xc3\xa9t\xc3\xa9", "1"});  // "été": 3 columns, 5 bytes
  EXPECT_EQ(t.Render("  "),
            "  K     V\n"
            "  \xc3\xa9t\xc3\xa9   1\n");
}

TEST(TableTest, HeaderOnly) {
  Table t({"ID", "STATE"});
  EXPECT_EQ(t.Render(), "ID   STATE\n");
}

}  // namespace
}  // namespace tide::cli

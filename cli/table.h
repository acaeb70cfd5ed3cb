// Table: kubectl-style text tables for tidectl. An upper-case header row, then data rows; each
// column is padded to its widest cell and columns are separated by three spaces. The last column
// is not padded, so lines carry no trailing blanks. Plain value type; not thread-safe.
#pragma once

#include <string>
#include <vector>

namespace tide::cli {

class Table {
 public:
  explicit Table(std::vector<std::string> header);

  // Adds one row; missing cells print empty, extra cells are dropped.
  void AddRow(std::vector<std::string> cells);
  size_t rows() const { return rows_.size(); }

  // Header plus rows, each line ending in '\n'. `indent` is put before every line.
  std::string Render(const std::string& indent = "") const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace tide::cli

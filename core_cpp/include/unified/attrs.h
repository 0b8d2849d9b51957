// Attrs: an op's parsed attributes (ints, floats, int lists, strings), read by kernels by name.
// Parsed once from Python (or from a bundle) so kernels never see Python objects.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace unified {

struct AttrValue {
  enum class Kind { kInt, kFloat, kInts, kFloats, kString } kind = Kind::kInt;
  int64_t i = 0;
  double f = 0.0;
  std::vector<int64_t> ints;
  std::vector<double> floats;
  std::string s;
};

class Attrs {
 public:
  void set(const std::string& name, AttrValue value);
  const AttrValue* find(const std::string& name) const;
  bool has(const std::string& name) const { return find(name) != nullptr; }
  // Readers return the default when the attribute is absent (Python always passes every attr).
  int64_t get_int(const std::string& name, int64_t default_value = 0) const;
  double get_float(const std::string& name, double default_value = 0.0) const;
  std::vector<int64_t> get_ints(const std::string& name) const;
  std::vector<double> get_floats(const std::string& name) const;
  std::string get_string(const std::string& name, const std::string& default_value = "") const;
  const std::vector<std::pair<std::string, AttrValue>>& items() const { return items_; }

 private:
  std::vector<std::pair<std::string, AttrValue>> items_;
};

}  // namespace unified

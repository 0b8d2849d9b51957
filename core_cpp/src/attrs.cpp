// Attribute storage and typed readers for kernels.
#include "unified/attrs.h"

namespace unified {

void Attrs::set(const std::string& name, AttrValue value) {
  for (auto& item : items_) {
    if (item.first == name) {
      item.second = std::move(value);
      return;
    }
  }
  items_.emplace_back(name, std::move(value));
}

const AttrValue* Attrs::find(const std::string& name) const {
  for (const auto& item : items_)
    if (item.first == name) return &item.second;
  return nullptr;
}

int64_t Attrs::get_int(const std::string& name, int64_t default_value) const {
  const AttrValue* v = find(name);
  if (!v) return default_value;
  return v->kind == AttrValue::Kind::kFloat ? static_cast<int64_t>(v->f) : v->i;
}

double Attrs::get_float(const std::string& name, double default_value) const {
  const AttrValue* v = find(name);
  if (!v) return default_value;
  return v->kind == AttrValue::Kind::kInt ? static_cast<double>(v->i) : v->f;
}

std::vector<int64_t> Attrs::get_ints(const std::string& name) const {
  const AttrValue* v = find(name);
  if (!v) return {};
  if (v->kind == AttrValue::Kind::kInt) return {v->i};
  return v->ints;
}

std::vector<double> Attrs::get_floats(const std::string& name) const {
  const AttrValue* v = find(name);
  if (!v) return {};
  if (v->kind == AttrValue::Kind::kFloat) return {v->f};
  if (v->kind == AttrValue::Kind::kInts) return std::vector<double>(v->ints.begin(), v->ints.end());
  return v->floats;
}

std::string Attrs::get_string(const std::string& name, const std::string& default_value) const {
  const AttrValue* v = find(name);
  return v ? v->s : default_value;
}

}  // namespace unified

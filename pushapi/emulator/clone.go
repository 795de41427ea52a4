package emulator

import "reflect"

// clone returns a copy of p that shares nothing with the call log: its
// recipients, its notifications and every slice, map and pointer of its
// request are copied, so a reader that sorts or edits what Pushes gave it
// (or encodes it while another call is recorded) leaves the log as it was.
func (p Push) clone() Push {
	return deepCopy(reflect.ValueOf(p)).Interface().(Push)
}

// deepCopy copies v and everything it points to: pointers, slices, maps and
// interfaces are followed (a request's extras hold maps and slices of any),
// every other value is copied as it is. Unexported struct fields are copied
// shallowly; the recorded types have none that refer to shared memory.
func deepCopy(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		out := reflect.New(v.Type().Elem())
		out.Elem().Set(deepCopy(v.Elem()))
		return out
	case reflect.Interface:
		if v.IsNil() {
			return v
		}
		out := reflect.New(v.Type()).Elem()
		out.Set(deepCopy(v.Elem()))
		return out
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		out := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			out.Index(i).Set(deepCopy(v.Index(i)))
		}
		return out
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		out := reflect.MakeMapWithSize(v.Type(), v.Len())
		for it := v.MapRange(); it.Next(); {
			out.SetMapIndex(it.Key(), deepCopy(it.Value()))
		}
		return out
	case reflect.Struct:
		out := reflect.New(v.Type()).Elem()
		out.Set(v)
		for i := range v.NumField() {
			if out.Field(i).CanSet() {
				out.Field(i).Set(deepCopy(v.Field(i)))
			}
		}
		return out
	default:
		return v
	}
}

import { create, toBinary } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { assertEquals } from "../tests/assert.ts";
import { OptionsSchema } from "./gen/containerd/runtimeoptions/v1/api_pb.ts";
import { configPathFromOptions } from "./task_service.ts";

Deno.test("task service: the config path comes from runtimeoptions.v1.Options", () => {
  const value = toBinary(OptionsSchema, create(OptionsSchema, { configPath: "/etc/x.toml" }));
  // ctr sends the bare name; CRI sends the type.googleapis.com form.
  for (
    const typeUrl of ["runtimeoptions.v1.Options", "type.googleapis.com/runtimeoptions.v1.Options"]
  ) {
    assertEquals(configPathFromOptions(create(AnySchema, { typeUrl, value })), "/etc/x.toml");
  }
  assertEquals(configPathFromOptions(undefined), undefined);
  assertEquals(
    configPathFromOptions(create(AnySchema, { typeUrl: "containerd.runc.v1.Options", value })),
    undefined,
  );
  assertEquals(
    configPathFromOptions(create(AnySchema, { typeUrl: "runtimeoptions.v1.Options" })),
    undefined,
  );
});

"""The task bodies the sandbox's workflow runs, written as Flyte users write them: `train` returns a
flytekit-style PyTorchCheckpoint and a tensor; `predict` takes them as files and opens them with a
plain torch.load (no map_location), as a task handed a FlyteFile of torch files does;
`predict_typed` is the same body with typed inputs, which flytekit loads with map_location."""
import torch


def train(inputs, device):
    torch.manual_seed(int(inputs.get("seed", 7)))
    model = torch.nn.Linear(4, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    model(torch.randn(3, 4)).sum().backward()
    optimizer.step()
    checkpoint = {"module_state_dict": model.state_dict(), "optimizer_state_dict": optimizer.state_dict(), "epochs": 1}
    return {
        "checkpoint": ("PyTorchCheckpoint", checkpoint),
        "weights": ("PyTorchTensor", model.weight.detach().clone()),
    }


def train_files(inputs, device):
    # The same outputs returned as FlyteFiles of torch.save files (format strings "pt" and ""), as a
    # task that saves with torch.save itself and returns the paths does.
    outputs = train(inputs, device)
    return {"checkpoint": ("pt", outputs["checkpoint"][1]), "weights": ("", outputs["weights"][1])}


def predict(inputs, device):
    checkpoint = inputs["checkpoint"]
    model = torch.nn.Linear(4, 2)
    model.load_state_dict(checkpoint["module_state_dict"])
    score = float(model(torch.ones(1, 4)).sum() + inputs["weights"].sum())
    return {"score": ("primitive", score)}


def train_many(inputs, device):
    torch.manual_seed(3)
    return {"models": ("collection", [("PyTorchTensor", torch.randn(2, 4)) for _ in range(int(inputs.get("count", 3)))])}


def predict_item(inputs, device):
    # A map task's subtask: `models` is this subtask's item of the list.
    return {"score": ("primitive", float(inputs["models"].sum()))}


TASKS = {"train": train, "train_files": train_files, "predict": predict, "predict_typed": predict, "train_many": train_many, "predict_item": predict_item}

# How each task's blobs are opened: predict takes FlyteFiles and calls torch.load itself (no
# map_location); predict_typed declares PyTorchCheckpoint/torch.Tensor inputs, which flytekit's own
# loaders open with map_location for the machine (extras/pytorch).
MAP_LOCATION = {"predict_typed": "cpu"}

# SPDX-License-Identifier: MIT
# bash completion for edge-npu's tools: npu-run, npu-mkmodel, npu-bench and npu-top.
# Installed once per command name, as bash-completion loads completions on first use.

# The devices this build has, from the first "devices:" line of npu-run --help.
_enpu_devices()
{
	npu-run --help 2>/dev/null | sed -n 's/^ *devices: //p' | head -n 1
}

_npu_run()
{
	local cur prev words cword
	_init_completion || return
	case $prev in
	-m | --model) _filedir gguf; return ;;
	-f | --file | --trace) _filedir; return ;;
	--draft) _filedir gguf; return ;;
	--draft-type) COMPREPLY=($(compgen -W "q4_0 q4_k q5_k q6_k q8_0" -- "$cur")); return ;;
	--device) COMPREPLY=($(compgen -W "$(_enpu_devices)" -- "$cur")); return ;;
	--placement) COMPREPLY=($(compgen -W "fixed auto" -- "$cur")); return ;;
	--profile) COMPREPLY=($(compgen -W "phone mw host" -- "$cur")); _filedir prof; return ;;
	--objective) COMPREPLY=($(compgen -W "latency energy" -- "$cur")); return ;;
	--cache-type) COMPREPLY=($(compgen -W "f16 q8_0 f32" -- "$cur")); return ;;
	--chat-template) COMPREPLY=($(compgen -W "chatml llama2 llama2-sys llama2-sys-bos
		llama2-sys-strip llama3 phi3 gemma deepseek deepseek2 deepseek3" -- "$cur")); return ;;
	-p | --prompt | -n | --n-predict | --temp | --top-k | --top-p | --min-p | \
	--repeat-penalty | --repeat-last-n | -s | --seed | -c | --ctx | --ctx-size | \
	-t | --threads | --target-ms | --spec-k) return ;;
	esac
	COMPREPLY=($(compgen -W "-m --model -p --prompt -f --file -n --n-predict --temp --top-k
		--top-p --min-p --repeat-penalty --repeat-last-n --ignore-eos -s --seed -c
		--ctx-size --ctx --cache-type -t --threads --device --placement --profile --objective
		--target-ms --trace --chat -cnv --chat-template --draft --draft-type --spec-k
		--spec-compare --spec-overlap --no-progress -h --help --version" -- "$cur"))
}

_npu_mkmodel()
{
	local cur prev words cword
	_init_completion || return
	case $prev in
	-o | --output) _filedir gguf; return ;;
	--vocab) _filedir gguf; return ;;
	-t | --type) COMPREPLY=($(compgen -W "f32 f16 q8_0 q4_0 q4_k q5_k q6_k q4_k_m" -- "$cur"))
		return ;;
	--arch) COMPREPLY=($(compgen -W "llama qwen2 phi3 gemma gemma2" -- "$cur")); return ;;
	--rope-scaling) COMPREPLY=($(compgen -W "none llama3 linear:" -- "$cur"))
		[[ $COMPREPLY == linear: ]] && compopt -o nospace
		return ;;
	--dim | --layers | --heads | --kv-heads | --ffn | --ctx | --seed | --name | --head-dim | \
		--sliding-window) return ;;
	esac
	COMPREPLY=($(compgen -W "-o --output --dim --layers --heads --kv-heads --ffn --ctx -t
		--type --tied --output-q6k --seed --vocab --name --arch --head-dim --sliding-window
		--rope-scaling -h --help --version" -- "$cur"))
}

_npu_bench()
{
	local cur prev words cword
	_init_completion || return
	if [ "$cword" -eq 1 ]; then
		COMPREPLY=($(compgen -W "cpu e2e batch spec npu load cancel calibrate sched thermal --help
			--version" -- "$cur"))
		return
	fi
	case $prev in
	-m | --model) _filedir gguf; return ;;
	-o | --output) COMPREPLY=($(compgen -W "text csv json md" -- "$cur")); return ;;
	-w | --write) _filedir prof; return ;;
	-t | --threads | -p | --prompt-tokens | -n | --gen-tokens | -r | --reps | -s | --sizes)
		return ;; # -s: batch's --sizes, thermal's --seconds; both take a number
	-b | --base | --profile)
		COMPREPLY=($(compgen -W "phone mw host" -- "$cur")); _filedir prof; return ;;
	-d | --device) COMPREPLY=($(compgen -W "$(_enpu_devices)" -- "$cur")); return ;;
	--cache-type) COMPREPLY=($(compgen -W "f16 q8_0 f32" -- "$cur")); return ;;
	--draft) _filedir gguf; return ;;
	--draft-type) COMPREPLY=($(compgen -W "q4_0 q4_k q5_k q6_k q8_0" -- "$cur")); return ;;
	--spec-k | --seconds | --ctx | --depth | --dags | --seed) return ;;
	--trace) _filedir csv; return ;;
	esac
	case ${words[1]} in
	cpu) COMPREPLY=($(compgen -W "-t --threads -r --reps -o --output" -- "$cur")) ;;
	e2e) COMPREPLY=($(compgen -W "-m --model -t --threads -p --prompt-tokens -n
		--gen-tokens -r --reps -d --device --cache-type --depth -o --output" -- "$cur")) ;;
	batch) COMPREPLY=($(compgen -W "-m --model -t --threads -s --sizes --jobs -p
		--prompt-tokens -n --gen-tokens -r --reps -d --device -o --output" -- "$cur")) ;;
	spec) COMPREPLY=($(compgen -W "-m --model --draft-type --draft --spec-k --profile -t --threads
		-p --prompt-tokens -n --gen-tokens -r --reps -d --device -o --output" -- "$cur")) ;;
	npu) COMPREPLY=($(compgen -W "-d --device -r --reps -o --output" -- "$cur")) ;;
	load) COMPREPLY=($(compgen -W "-m --model -d --device -r --reps -o --output" -- "$cur")) ;;
	cancel) COMPREPLY=($(compgen -W "-m --model -p --prompt-tokens -d --device -r --reps
		-t --threads -o --output" -- "$cur")) ;;
	calibrate) COMPREPLY=($(compgen -W "-w --write -b --base -r --reps -t --threads
		--no-gpu -o --output" -- "$cur")) ;;
	sched) COMPREPLY=($(compgen -W "--profile --dags --seed -o --output --help" -- "$cur")) ;;
	thermal) COMPREPLY=($(compgen -W "-m --model --profile -s --seconds --ctx --trace --help" \
		-- "$cur")) ;;
	esac
}

_npu_top()
{
	local cur prev words cword
	_init_completion || return
	case $prev in
	-s | --interval | -d | --device | -n | --count | --set) return ;;
	esac
	if [[ " ${words[*]} " == *" --set "* ]]; then
		COMPREPLY=($(compgen -W "governor= min_freq= max_freq= userspace/set_freq=" \
			-- "$cur"))
		compopt -o nospace
		return
	fi
	# -J and -l exclude each other, and -n counts -l's lines: offer what may go together
	local out=" ${words[*]:0:cword} "
	if [[ $out == *" -l "* || $out == *" --json-lines "* ]]; then
		COMPREPLY=($(compgen -W "-s --interval -d --device -m --mono --set -h --help
			--version -n --count" -- "$cur"))
	elif [[ $out == *" -J "* || $out == *" --json "* ]]; then
		COMPREPLY=($(compgen -W "-s --interval -d --device -m --mono --set -h --help
			--version" -- "$cur"))
	else
		COMPREPLY=($(compgen -W "-s --interval -d --device -m --mono --set -h --help
			--version -J --json -l --json-lines" -- "$cur"))
	fi
}

complete -F _npu_run npu-run
complete -F _npu_mkmodel npu-mkmodel
complete -F _npu_bench npu-bench
complete -F _npu_top npu-top

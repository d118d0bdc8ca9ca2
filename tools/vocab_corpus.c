/* SPDX-License-Identifier: MIT */
/*
 * vocab_corpus.c - the English text the built-in vocabulary's pieces are learnt from
 * (vocab.c). Written for edge-npu: a short story, everyday prose and a description of the
 * project, so that common English words and the words of its own messages are single pieces.
 * Changing it changes the vocabulary, and so the default model: raise VOCAB_REVISION
 * (vocab.h) with it, or npu-run keeps using the model cached with the old vocabulary.
 */
#include "vocab.h"

const char *const vocab_corpus[] = {
	"Once upon a time there was a little girl who lived in a small house at the edge of a "
	"great forest. Every morning she walked to the river with her mother to fetch water, and "
	"every evening she sat by the fire and listened to the stories her grandfather told. "
	"He told her about the old king who lived in the castle on the hill, about the wise owl "
	"that knew the names of all the stars, and about the brave little fox who was not afraid "
	"of the dark.",

	"One day the girl found a strange stone in the river. It was round and smooth and it "
	"was warm in her hand, as if it had been lying in the sun all day. When she held it up "
	"to the light, she could see a tiny spark inside it, moving slowly from one side to the "
	"other. She put the stone in her pocket and ran home to show it to her grandfather.",

	"The old man looked at the stone for a long time. Then he smiled and said that he had "
	"seen such a stone once before, when he was a boy. It was a gift from the river, he said, "
	"and it would help her when she needed it most. The girl did not understand what he "
	"meant, but she kept the stone with her wherever she went.",

	"Many years later, when the girl had grown into a young woman, a hard winter came to "
	"the forest. The snow was deep and the nights were long and cold. The people of the "
	"village had little food and less wood for their fires. One night the woman took the "
	"stone out of her pocket and held it close to her heart. The spark inside grew brighter "
	"and brighter until the whole room was full of light and warmth.",

	"From that night on, the village was never cold again. The children played in the "
	"snow, the old people told their stories by the light of the stone, and the woman "
	"remembered the words of her grandfather. She knew that some gifts are small, and that "
	"the small things we carry with us can change the world around us.",

	"The sun rose over the hills and the birds began to sing. A farmer walked out into his "
	"field to look at the wheat, which was tall and golden after the long summer. His dog "
	"ran ahead of him, chasing the butterflies that flew over the grass. In the distance "
	"he could hear the bells of the church and the sound of a train on its way to the city.",

	"It is a good idea to read a book before you go to sleep. Some people like stories "
	"about the past, others like stories about the future, and many people simply enjoy "
	"a quiet hour with a cup of tea. What do you like to read? Where do you like to sit? "
	"Do you read on paper or on a screen? There is no wrong answer, because every reader "
	"is different.",

	"We went to the market on Saturday morning and bought apples, bread, cheese, eggs, "
	"fish, milk and some fresh vegetables. The weather was nice, so we decided to have lunch "
	"in the park. After lunch we took a long walk along the lake and talked about our "
	"plans for the next year. My brother wants to study science, my sister wants to travel "
	"around the world, and I would like to learn to play the piano.",

	"The teacher asked the students to write a short story about their first day at school. "
	"Some of them wrote about their friends, some wrote about their teachers, and one boy "
	"wrote about the day he lost his shoe in the rain. Everyone laughed when he read it "
	"aloud, and the teacher said it was the best story of the year.",

	"Time passes quickly when you are busy. The days become weeks, the weeks become months, "
	"and before you know it another year has gone by. It is important to take a moment now "
	"and then to think about what really matters: the people you love, the work you do, and "
	"the small joys of every day.",

	"edge-npu is an open driver stack for neural processing units. It loads a model from a "
	"GGUF file and runs it on the processor, the graphics card or the neural processing "
	"unit of a phone, a car or an appliance. The library reads the weights of the model, "
	"builds a graph of operations for each batch of tokens, places every operation on a "
	"device and runs the operations on queues, one for each device.",

	"A language model reads a sequence of tokens and predicts the next token. The text "
	"is first split into tokens by the tokenizer, which uses a vocabulary of pieces with "
	"scores. The model turns each token into a vector, passes the vectors through its "
	"layers of attention and feed forward networks, and computes the logits of every token "
	"in the vocabulary. The sampler then picks the next token, either the most likely one "
	"or one drawn at random with a temperature, and the process starts again.",

	"The scheduler models the time and the energy of every operation on every device. It "
	"chooses the placement with the least latency within the power budget of the device "
	"profile, or the least energy within a target latency. The memory of the model is "
	"shared between the devices where the hardware allows it, and copied where it does "
	"not. The summary shows the load time, the number of tokens per second, the peak "
	"memory and the work each device has done.",

	"To run the default model, build the project and start the program without arguments. "
	"The first run generates a small model with random weights and keeps it in the cache. "
	"A model with random weights does not write meaningful text, but it exercises every "
	"part of the stack: the reader, the tokenizer, the kernels, the scheduler and the "
	"devices. Use your own model file for real text, with the option that names the model.",

	"Error messages say what went wrong and where: the name of the file, the offset of the "
	"byte, the name of the tensor or the index of the operation. Options that do not apply "
	"are refused with a clear message, and the help lists every option this build has, the "
	"devices it can open and the kernels it can run.",

	"He said that she would come back soon, but they were not sure. If it rains tomorrow, we "
	"will stay at home and watch a film. She has been working here for three years and she "
	"still likes her job. They could not find the key, so they had to wait outside until "
	"their neighbour came home. Which way is the station? It is not far from here: go "
	"straight on, then turn left at the second street and you will see it on your right.",

	"The quick brown fox jumps over the lazy dog. A journey of a thousand miles begins with "
	"a single step. All that glitters is not gold. Actions speak louder than words. The early "
	"bird catches the worm, but the second mouse gets the cheese.",

	"One, two, three, four, five, six, seven, eight, nine, ten. Monday, Tuesday, Wednesday, "
	"Thursday, Friday, Saturday and Sunday. January, February, March, April, May, June, "
	"July, August, September, October, November and December. Red, orange, yellow, green, "
	"blue and purple. North, south, east and west. Morning, afternoon, evening and night.",

	"Questions people often ask: how does it work, why is it fast, what does it need, when "
	"will it be ready, who can use it, and where can I find more information? The answers "
	"are in the manual pages, in the documentation of the library, and in the source code, "
	"which anyone can read, change and share under the terms of its license.",

	"Once upon a time, in a village by the sea, there lived an old fisherman and his wife. "
	"Every day he went out in his boat, and every evening he came back with a few fish for "
	"their supper. Once upon a time is how the old stories begin, and the children of the "
	"village knew that a story was coming whenever they heard those words. Once upon a time "
	"there was a king, once upon a time there was a dragon, and once upon a time there was "
	"a boy who wanted to see what lay beyond the mountains.",

	"The boy left home early in the morning, when the grass was still wet and the sky was "
	"turning from grey to pink. He carried a loaf of bread, a knife, a rope and a small "
	"book of maps that his father had given him. For three days he walked through woods "
	"and fields, over bridges and along narrow paths, and on the fourth day he reached the "
	"foot of the mountains. There he met an old woman sitting on a rock beside the road.",

	"Where are you going, young man, she asked him. I am going to see what lies beyond the "
	"mountains, he answered. Many have tried, she said, and few have come back. But if you "
	"are kind to the people you meet and you do not give up when the road is hard, you may "
	"find what you are looking for. The boy thanked her, shared his bread with her, and "
	"went on his way. He did not know that she was the queen of the mountain.",

	"The path became steep and the air grew thin and cold. At night the wind howled between "
	"the rocks and the boy could not sleep. He thought of his mother and father, of his "
	"little sister, of the warm kitchen and the smell of fresh bread. Then he remembered "
	"the words of the old woman, and in the morning he stood up and kept climbing. After "
	"many hours he reached the top, and for the first time he saw the other side.",

	"Below him lay a wide green valley with a silver river running through it. There were "
	"orchards full of fruit, gardens full of flowers, and a town of white houses with red "
	"roofs. People were working in the fields and children were playing by the water. The "
	"boy laughed with joy and ran down the hill. When the people of the town saw him, they "
	"welcomed him as a friend, because the queen of the mountain had told them he would come.",

	"He stayed in the valley for a year and learned many things. He learned how to build a "
	"house, how to grow wheat and how to make cheese. He learned the songs of the valley and "
	"the names of its birds and trees. But most of all he learned that people everywhere "
	"are much the same: they want to be safe and warm, to have enough to eat, and to share "
	"their lives with the people they love. Then he went home and told his story.",

	"The cat sat on the mat and looked out of the window. It was raining again, and the "
	"street was empty except for a man with a black umbrella who was waiting for the bus. "
	"The cat watched him for a while, then yawned, stretched and went back to sleep. In the "
	"kitchen, the kettle began to whistle, and somebody put two cups on the table.",

	"Good morning! How are you today? I am fine, thank you, and you? Not bad, but a little "
	"tired, because I worked late last night. Would you like a cup of coffee? Yes, please, "
	"with milk and no sugar. Here you are. Thank you very much. You are welcome. See you "
	"later, and have a nice day. Goodbye, and take care of yourself.",

	"Water boils at one hundred degrees at sea level, and freezes at zero. The earth goes "
	"around the sun once a year, and the moon goes around the earth about once a month. "
	"Light travels faster than sound, which is why we see the lightning before we hear the "
	"thunder. Plants take energy from the light of the sun and turn it into food, and the "
	"animals that eat the plants take that energy in turn.",

	"A computer stores numbers as bits, each of which is either zero or one. Eight bits make "
	"a byte, and a byte can hold a number from zero to two hundred and fifty five. Text is "
	"stored as a sequence of bytes, and each letter has its own number. A processor reads "
	"instructions from memory, one after another, and each instruction tells it to add, "
	"multiply, compare, load or store a value. A program is a list of such instructions.",

	"The matrix multiplication is the heart of the model: most of the time and most of the "
	"energy go into it. The weights are stored with eight or four bits for each value and a "
	"scale for each block, which makes the model smaller and faster to read from memory. The "
	"neural processing unit multiplies integers, adds the products and scales the results, "
	"and the processor does the rest of the work, such as the normalisation, the rotary "
	"position embedding, the attention and the activation functions.",

	"When the program starts, it opens the devices, loads the model, creates a session and "
	"reads the prompt. It writes the generated text as soon as each token is ready, and "
	"prints a summary at the end. If you press control and C, it stops the generation, "
	"prints the summary of what it has done so far and closes the trace file, so that the "
	"trace can still be opened and read.",

	"She opened the door and stepped into the garden. The roses were in bloom, the bees were "
	"busy among the flowers, and an old apple tree threw a long shadow across the lawn. She "
	"sat down on the bench under the tree, opened her letter and began to read. It was from "
	"her brother, who had moved to another country many years ago. He wrote that he was "
	"well, that he missed her, and that he would come to visit her in the spring.",

	"There are many ways to solve a problem. You can try to break it into smaller parts, "
	"solve each part on its own and then put the answers together. You can look for a "
	"similar problem that you have already solved. You can draw a picture, make a list or "
	"write down what you know and what you want to find. And sometimes the best thing to do "
	"is to take a walk, think about something else and come back to the problem later.",

	NULL,
};
